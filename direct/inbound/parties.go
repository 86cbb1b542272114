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
