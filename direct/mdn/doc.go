// Package mdn owns delivery receipts for Direct messages: it builds RFC 8098
// message disposition notifications (MDNs) and recognises both MDNs and
// RFC 3464 delivery status notifications (DSNs) that come back to us.
//
// It works on plain MIME bytes: signing, encryption and sending belong to
// other packages. It must not import the gateway core or another channel and
// must never log message content; the human-readable parts it writes carry
// no PHI, only message ids and addresses already on the envelope.
//
// Message identifiers cross this package's API without angle brackets.
package mdn
