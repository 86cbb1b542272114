package main

import (
	"context"
	"fmt"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// benchPair is one referrer practice and its receiver on each channel.
// The first pair is the demo's own (clinic-a and its receivers); the
// others are copies that share the endpoints of the first, so that each
// pair has its own audit chains while the network stays the same.
type benchPair struct {
	Referrer  gateway.Actor
	Requester gateway.Requester
	Receivers map[gateway.ChannelKind]string
}

// benchPairs seeds n-1 more referrer/receiver pairs in A's directory and
// returns all n.
func benchPairs(ctx context.Context, ln *loopNet, n int) ([]benchPair, error) {
	first := demoReferral(0, "").Requester
	pairs := []benchPair{{Referrer: demoReferrer, Requester: first, Receivers: benchReceivers}}
	a := ln.a.app.svc
	now := time.Now().UTC()
	for i := 1; i < n; i++ {
		p := benchPair{Referrer: gateway.Actor{ID: demoReferrer.ID, OrgID: fmt.Sprintf("clinic-a-%02d", i)},
			Requester: first, Receivers: map[gateway.ChannelKind]string{}}
		p.Requester.OrgID = p.Referrer.OrgID
		ref, err := entryCopy(ctx, a, "clinic-a", p.Referrer.OrgID)
		if err != nil {
			return nil, err
		}
		if _, err := a.PutEntry(ctx, demoAdmin, ref); err != nil {
			return nil, fmt.Errorf("bench: seed %s: %w", ref.ID, err)
		}
		for ch, base := range benchReceivers {
			id := fmt.Sprintf("%s-%02d", base, i)
			e, err := entryCopy(ctx, a, base, id)
			if err != nil {
				return nil, err
			}
			if _, err := a.PutEntry(ctx, demoAdmin, e); err != nil {
				return nil, fmt.Errorf("bench: seed %s: %w", id, err)
			}
			if _, err := a.VerifyEntry(ctx, demoAdmin, id, "bench seed"); err != nil {
				return nil, fmt.Errorf("bench: verify %s: %w", id, err)
			}
			if _, err := a.SetBAA(ctx, demoAdmin, gateway.BAAChange{PartyID: id, State: gateway.BAAActive,
				Start: now.AddDate(0, -1, 0), End: now.AddDate(1, 0, 0), Document: "baa/" + id + ".pdf"}); err != nil {
				return nil, fmt.Errorf("bench: BAA %s: %w", id, err)
			}
			p.Receivers[ch] = id
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// entryCopy reads A's directory entry from and returns a new entry with
// the same endpoints under id.
func entryCopy(ctx context.Context, svc *gateway.Service, from, id string) (*gateway.Entry, error) {
	e, err := svc.Entry(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("bench: seed %s from %s: %w", id, from, err)
	}
	c := *e
	c.ID, c.Name, c.NPI, c.Version = id, e.Name+" "+id, "", 0
	c.Verification = nil
	return &c, nil
}
