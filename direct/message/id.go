package message

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// NewMessageID returns a fresh, globally unique message identifier for
// domain (the sending Direct domain), without angle brackets. The left part
// is 128 random bits, so the identifier reveals neither time nor content.
func NewMessageID(domain string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error.
	left := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	return left + "@" + strings.ToLower(strings.TrimSpace(domain))
}
