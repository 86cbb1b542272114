// Package channel connects Direct messaging to the referral core: it
// implements gateway.Channel for gateway.ChannelDirect by composing the
// referral as a Direct message, signing it with our key, encrypting it for
// the receiver's certificate (from the directory or discovered in DNS) and
// handing it to the receiving HISP over SMTP.
//
// It also offers the sealing step (sign, encrypt, add the outer header) and
// the recipient-certificate checks that direct/inbound reuses for MDNs.
//
// It must not import fhir or fax, must not edit referral state itself (the
// core records the send result), and never logs message content, record
// content, subjects or patient data: log lines and errors carry ids,
// addresses of parties and reply codes only.
package channel
