package inbound

import (
	"context"
	"errors"
	"mime"
	"strings"

	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// fromParty reports whether addr is the Direct address, or in the Direct
// domain, of the directory entry id or one of its parent organisations.
func (p *Processor) fromParty(ctx context.Context, id, addr string) (bool, error) {
	for range 8 {
		if id == "" {
			return false, nil
		}
		e, err := p.svc.Entry(ctx, id)
		if errors.Is(err, gateway.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if e.Direct != nil && e.Direct.Address != "" {
			if strings.EqualFold(e.Direct.Address, addr) || channel.Domain(e.Direct.Address) == channel.Domain(addr) {
				return true, nil
			}
		}
		id = e.ParentID
	}
	return false, nil
}

// tenantsFor names the practices whose directory entries own the
// recipient addresses; UnknownTenant when none does.
func (p *Processor) tenantsFor(ctx context.Context, addrs []string) ([]string, error) {
	var out []string
	for _, addr := range addrs {
		entries, err := p.svc.ListEntries(ctx, gateway.EntryQuery{Search: addr, Limit: 20})
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Direct == nil || !strings.EqualFold(e.Direct.Address, addr) {
				continue
			}
			root := e
			for range 8 {
				if root.ParentID == "" {
					break
				}
				parent, err := p.svc.Entry(ctx, root.ParentID)
				if err != nil {
					break
				}
				root = parent
			}
			out = append(out, root.ID)
		}
	}
	return dedupe(out), nil
}

func contentTypes(in *message.Inbound) []string {
	var out []string
	for _, a := range in.Attachments {
		mt, _, err := mime.ParseMediaType(a.ContentType)
		if err != nil {
			mt = "unknown"
		}
		out = append(out, mt)
	}
	return out
}
