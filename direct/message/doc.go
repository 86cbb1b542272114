// Package message owns the plain MIME form of a Direct referral message:
// composing the RFC 5322 entity the gateway hands to S/MIME signing, and
// parsing the decrypted entity a remote HISP sent us.
//
// It works on bytes only. It must not sign, encrypt, send or store anything,
// must not import the gateway core or another channel, and must never log
// message content (subjects, bodies, attachments or addresses are PHI).
//
// Message identifiers cross this package's API without angle brackets
// ("20261123.abc@direct.example.org"); the brackets exist only on the wire.
package message
