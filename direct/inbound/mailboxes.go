package inbound

import (
	"context"
	"slices"
	"strings"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smtpin"
	"github.com/referralgw/gateway/gateway"
)

// Mailboxes tells smtpin which addresses exist: those in our Direct domains
// for which the keyring holds an identity (address- or domain-bound), since
// only their mail can be decrypted, and, once restricted with OwnedIn,
// only those a practice owns, since only their mail can be delivered.
type Mailboxes struct {
	keys    *certs.Keyring
	domains []string
	owners  Owners   // nil: every address with a key
	always  []string // lower case
}

var _ smtpin.Mailboxes = (*Mailboxes)(nil)

// Owners says which practice receives at a Direct address: the directory
// (*gateway.Service satisfies it).
type Owners interface {
	EntriesWithDirectAddress(ctx context.Context, addr string) ([]*gateway.Entry, error)
}

// NewMailboxes accepts addresses of domains that keys can decrypt for.
func NewMailboxes(keys *certs.Keyring, domains ...string) *Mailboxes {
	m := &Mailboxes{keys: keys}
	for _, d := range domains {
		m.domains = append(m.domains, channel.Domain("@"+d))
	}
	return m
}

// OwnedIn returns m restricted to the addresses the directory dir lists
// for a party (a practice or provider that receives there), plus always
// (the gateway's own sending address, where receipts for referrals from
// practices without an address of their own come back) and each domain's
// postmaster (RFC 5321 section 4.5.1). Mail to any other address of our
// domains could be decrypted but never delivered: the Delivery
// Notification guide's "processed" would promise what we cannot keep, so
// smtpin refuses it at RCPT TO with 550 5.1.1.
func (m *Mailboxes) OwnedIn(dir Owners, always ...string) *Mailboxes {
	out := *m
	out.owners = dir
	out.always = nil
	for _, a := range always {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
			out.always = append(out.always, a)
		}
	}
	return &out
}

// Accepts implements smtpin.Mailboxes. The error is a directory lookup
// that failed.
func (m *Mailboxes) Accepts(ctx context.Context, addr string) (bool, error) {
	if !slices.Contains(m.domains, channel.Domain(addr)) {
		return false, nil
	}
	if _, err := m.keys.ForAddress(addr); err != nil {
		return false, nil
	}
	if m.owners == nil {
		return true, nil
	}
	return owned(ctx, m.owners, m.always, addr)
}

// owned reports whether mail to addr can be delivered: a postmaster, one
// of always, or an address the directory lists for a party.
func owned(ctx context.Context, dir Owners, always []string, addr string) (bool, error) {
	local, _, _ := strings.Cut(addr, "@")
	if strings.EqualFold(local, "postmaster") || slices.Contains(always, strings.ToLower(addr)) {
		return true, nil
	}
	entries, err := dir.EntriesWithDirectAddress(ctx, addr)
	if err != nil {
		return false, err
	}
	return len(entries) > 0, nil
}

// Mailboxes is what smtpin should accept for p: the addresses of p's
// Direct domain we hold a key for that a party of the directory receives
// at, p's default sending address and the postmaster (see OwnedIn).
func (p *Processor) Mailboxes() *Mailboxes {
	return NewMailboxes(p.ch.Keys, p.ch.Domain).OwnedIn(p.svc, p.ch.DefaultSender)
}

// deliverable reports whether mail to ours (an address of our domain we
// hold a key for) can be delivered: the rule of Mailboxes, asked again at
// processing, as the directory may have changed since RCPT TO.
func (p *Processor) deliverable(ctx context.Context, ours string) (bool, error) {
	return owned(ctx, p.svc, []string{strings.ToLower(p.ch.DefaultSender)}, ours)
}
