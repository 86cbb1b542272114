package admin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// Health is the directory's health: what needs an admin's attention soon.
type Health struct {
	At time.Time `json:"at"`
	// BAAsExpiring lists BAAs in force that are expiring or expired.
	BAAsExpiring []BAARow `json:"baasExpiring"`
	// CertsExpiring lists Direct certificates that expire within the
	// certificate window (or already have).
	CertsExpiring []CertWarning `json:"certsExpiring"`
	// FailingChannels lists referrals with a delivery that recorded an
	// error in the last day.
	FailingChannels []FailingReferral `json:"failingChannels"`
	// UnverifiedPending lists unverified recipients that have referrals
	// waiting in draft.
	UnverifiedPending []UnverifiedRecipient `json:"unverifiedPending"`
}

// CertWarning is a Direct certificate close to or past its expiry.
type CertWarning struct {
	EntryID string    `json:"entryId"`
	Name    string    `json:"name"`
	Address string    `json:"address"`
	Expires time.Time `json:"expires"`
	Expired bool      `json:"expired"`
}

// FailingReferral is a referral whose deliveries recorded errors recently.
type FailingReferral struct {
	Referral   ReferralView        `json:"referral"`
	Deliveries []*gateway.Delivery `json:"deliveries"` // those with an error in the window
}

// UnverifiedRecipient is a directory entry not yet verified with the
// referrals waiting on it.
type UnverifiedRecipient struct {
	Entry     *gateway.Entry `json:"entry"`
	Referrals []string       `json:"referrals"`
}

// failingWindow is how far back a delivery error counts as a failing channel.
const failingWindow = 24 * time.Hour

func (s *Server) health(ctx context.Context) (*Health, error) {
	now := s.clock.Now()
	h := &Health{At: now, BAAsExpiring: []BAARow{}, CertsExpiring: []CertWarning{},
		FailingChannels: []FailingReferral{}, UnverifiedPending: []UnverifiedRecipient{}}

	baas, err := s.baaBoard(ctx, false)
	if err != nil {
		return nil, err
	}
	for _, row := range baas {
		if row.Effective == gateway.BAAExpiring || row.Effective == gateway.BAAExpired {
			h.BAAsExpiring = append(h.BAAsExpiring, row)
		}
	}

	entries, err := s.allEntries(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*gateway.Entry{}
	for _, e := range entries {
		byID[e.ID] = e
		if e.Direct != nil && !e.Direct.CertExpires.IsZero() && e.Direct.CertExpires.Before(now.Add(s.cfg.CertWarningWindow)) {
			h.CertsExpiring = append(h.CertsExpiring, CertWarning{EntryID: e.ID, Name: e.Name, Address: e.Direct.Address,
				Expires: e.Direct.CertExpires, Expired: !e.Direct.CertExpires.After(now)})
		}
	}
	slices.SortFunc(h.CertsExpiring, func(a, b CertWarning) int { return a.Expires.Compare(b.Expires) })

	since := now.Add(-failingWindow)
	err = s.eachReferral(ctx, gateway.ReferralQuery{UpdatedFrom: since}, func(r *gateway.Referral) error {
		_, ds, err := s.svc.Referral(ctx, r.ID)
		if err != nil {
			return err
		}
		var failing []*gateway.Delivery
		for _, d := range ds {
			if d.LastError != "" && !d.Updated.Before(since) {
				failing = append(failing, d)
			}
		}
		if len(failing) > 0 {
			h.FailingChannels = append(h.FailingChannels, FailingReferral{Referral: referralView(r), Deliveries: failing})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("admin: health: failing channels: %w", err)
	}

	waiting := map[string][]string{}
	err = s.eachReferral(ctx, gateway.ReferralQuery{Statuses: []gateway.Status{gateway.StatusDraft}}, func(r *gateway.Referral) error {
		if e := byID[r.ReceiverID]; e != nil && !e.Verified() {
			waiting[e.ID] = append(waiting[e.ID], r.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("admin: health: unverified recipients: %w", err)
	}
	for _, e := range entries { // directory order
		if refs := waiting[e.ID]; len(refs) > 0 {
			h.UnverifiedPending = append(h.UnverifiedPending, UnverifiedRecipient{Entry: e, Referrals: refs})
		}
	}
	return h, nil
}

// eachReferral pages through every referral matching q.
func (s *Server) eachReferral(ctx context.Context, q gateway.ReferralQuery, fn func(*gateway.Referral) error) error {
	q.Limit = 200
	for {
		page, err := s.svc.ListReferrals(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			return nil
		}
		q.AfterID = page[len(page)-1].ID
	}
}
