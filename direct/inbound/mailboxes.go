package inbound

import (
	"context"
	"slices"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smtpin"
)

// Mailboxes tells smtpin which addresses exist: those in our Direct domains
// for which the keyring holds an identity (address- or domain-bound), since
// only their mail can be decrypted.
type Mailboxes struct {
	keys    *certs.Keyring
	domains []string
}

var _ smtpin.Mailboxes = (*Mailboxes)(nil)

// NewMailboxes accepts addresses of domains that keys can decrypt for.
func NewMailboxes(keys *certs.Keyring, domains ...string) *Mailboxes {
	m := &Mailboxes{keys: keys}
	for _, d := range domains {
		m.domains = append(m.domains, channel.Domain("@"+d))
	}
	return m
}

// Accepts implements smtpin.Mailboxes.
func (m *Mailboxes) Accepts(_ context.Context, addr string) bool {
	if !slices.Contains(m.domains, channel.Domain(addr)) {
		return false
	}
	_, err := m.keys.ForAddress(addr)
	return err == nil
}
