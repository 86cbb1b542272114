// Package smtpout owns outbound SMTP for Direct: it finds the receiving
// HISP (a configured smarthost, or the recipient domain's MX hosts), insists
// on STARTTLS unless told otherwise, refuses mail hosts that DNS puts on
// loopback, private or other non-public addresses (unless allowed, for
// development), hands over one already-signed and encrypted message, and
// reports the server's final reply. Connections are pooled per destination
// and reused with RSET between messages.
//
// It does not queue or retry (the caller's job queue does, using IsTemporary
// and Backoff), does not build or encrypt messages, must not import the
// gateway core or another channel, and never logs message content.
package smtpout
