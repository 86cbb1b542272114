package inbound

import (
	"context"
	"errors"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

// fromParty reports whether addr may answer for the directory entry id:
// only the exact Direct address the entry lists (the address a referral to
// it went to), or the exact address of one of its parent organisations.
// Another address in the same Direct domain is not the party. It returns
// the entry for its per-party settings.
func (p *Processor) fromParty(ctx context.Context, id, addr string) (*gateway.Entry, bool, error) {
	var party *gateway.Entry
	for range 8 {
		if id == "" {
			return party, false, nil
		}
		e, err := p.svc.Entry(ctx, id)
		if errors.Is(err, gateway.ErrNotFound) {
			return party, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if party == nil {
			party = e
		}
		if e.Direct != nil && e.Direct.Address != "" && strings.EqualFold(e.Direct.Address, addr) {
			return party, true, nil
		}
		id = e.ParentID
	}
	return party, false, nil
}

// partyAddresses lists the addresses a delivery to the directory entry id
// may be reported for: its own Direct address (the one a referral to it
// went to) and those of its parent organisations, as fromParty accepts.
func (p *Processor) partyAddresses(ctx context.Context, id string) ([]string, error) {
	var out []string
	for range 8 {
		if id == "" {
			break
		}
		e, err := p.svc.Entry(ctx, id)
		if errors.Is(err, gateway.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.Direct != nil && strings.TrimSpace(e.Direct.Address) != "" {
			out = append(out, strings.TrimSpace(e.Direct.Address))
		}
		id = e.ParentID
	}
	return out, nil
}

// fromPartyMailSystem reports whether addr is the mail system of the
// Direct domain the directory entry id (or a parent) receives at: its
// postmaster or MAILER-DAEMON, the senders of DSNs.
func (p *Processor) fromPartyMailSystem(ctx context.Context, id, addr string) (bool, error) {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || !strings.EqualFold(local, "postmaster") && !strings.EqualFold(local, "mailer-daemon") {
		return false, nil
	}
	addrs, err := p.partyAddresses(ctx, id)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if _, d, _ := strings.Cut(a, "@"); strings.EqualFold(strings.TrimSuffix(d, "."), strings.TrimSuffix(domain, ".")) {
			return true, nil
		}
	}
	return false, nil
}
