package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/referralgw/gateway/audit"
)

// ImportBAA records an agreement carried over from another system as it
// stands there, dates in the past included (SetBAA accepts only new
// agreements moving forward): it replaces the party's current BAA and
// records baa.imported in the gateway's trail in the same transaction.
// Importing is gateway-wide administration (path PathBAA): an actor of a
// practice is refused with ErrForbidden.
func (s *Service) ImportBAA(ctx context.Context, actor Actor, b BAA) (*BAA, error) {
	if actor.OrgID != "" || ScopeFrom(ctx).Practice != "" {
		return nil, fmt.Errorf("import BAA: gateway-wide administration: %w", ErrForbidden)
	}
	var errs ValidationErrors
	if b.PartyID == "" {
		errs = append(errs, &ValidationError{Field: "partyId", Reason: "is required"})
	}
	switch b.State {
	case BAADraft, BAASent, BAAActive, BAATerminated:
	default:
		errs = append(errs, &ValidationError{Field: "state", Reason: "must be draft, sent, active or terminated"})
	}
	if b.State == BAAActive && (b.Start.IsZero() || b.End.IsZero() || !b.End.After(b.Start)) {
		errs = append(errs, &ValidationError{Field: "end", Reason: "an active agreement needs a start and a later end"})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("import BAA: %w", errs)
	}
	ctx = readScope(ctx, PathBAA)
	if _, err := s.Entry(ctx, b.PartyID); err != nil {
		return nil, fmt.Errorf("import BAA for %s: %w", b.PartyID, err)
	}
	now := s.clock.Now().UTC()
	if b.ID == "" {
		b.ID = NewID()
	}
	err := s.update(ctx, func(tx Tx) error {
		cur, err := tx.BAAForParty(ctx, b.PartyID)
		switch {
		case err == nil:
			b.Version = cur.Version + 1
			b.ID = cur.ID
		case errors.Is(err, ErrNotFound):
			b.Version = 1
		default:
			return err
		}
		b.Updated = now
		if err := tx.PutBAA(ctx, &b); err != nil {
			return err
		}
		detail := map[string]string{"party": b.PartyID, "state": string(b.State)}
		if !b.End.IsZero() {
			detail["end"] = b.End.Format(time.DateOnly)
		}
		return tx.Audit(ctx, audit.Event{Time: now, Actor: actor.ID, Tenants: []string{SystemTenant},
			Action: "baa.imported", Outcome: audit.OutcomeSuccess, Detail: detail})
	})
	if err != nil {
		return nil, fmt.Errorf("import BAA for %s: %w", b.PartyID, err)
	}
	return &b, nil
}
