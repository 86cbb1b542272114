package subscription

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// leaseFor is how long a notifier holds a subscription without renewing:
// long enough for one attempt.
func (n *Notifier) leaseFor() time.Duration { return 2*n.cfg.Timeout + n.cfg.Interval }

// acquire takes the subscription's lease for holder (one run of serve), provided
// neither the subscription nor its delivery state changed since this pass
// read them and no other notifier holds it. It reports whether the lease
// is held.
func (n *Notifier) acquire(ctx context.Context, s *Subscription, version int, holder string) (bool, error) {
	id := s.ID
	now := n.cfg.Clock().UTC()
	held := false
	err := n.svc.UpdateDocuments(ctx, func(tx gateway.DocumentTx) error {
		cur, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		st, err := loadState(ctx, tx, id, cur.Updated)
		if err != nil {
			return err
		}
		if cur.Version != s.Version || st.Version != version || (st.Holder != "" && st.Holder != holder && now.Before(st.HeldUntil)) {
			return nil
		}
		st.Holder, st.HeldUntil = holder, now.Add(n.leaseFor())
		held = true
		return putJSON(ctx, tx, StateKind, id, st.Version+1, now, st)
	})
	if errors.Is(err, gateway.ErrConflict) || errors.Is(err, gateway.ErrNotFound) {
		return false, nil // another notifier or a deletion won the race
	}
	if err != nil {
		return false, fmt.Errorf("subscription: lease %s: %w", id, err)
	}
	return held, nil
}

// release gives the lease up after a pass, so another instance need not
// wait for it to expire.
func (n *Notifier) release(ctx context.Context, id, holder string) {
	ctx = context.WithoutCancel(ctx)
	now := n.cfg.Clock().UTC()
	err := n.svc.UpdateDocuments(ctx, func(tx gateway.DocumentTx) error {
		st, err := loadState(ctx, tx, id, now)
		if err != nil || st.Holder != holder || st.Version == 0 {
			return err
		}
		st.Holder, st.HeldUntil = "", time.Time{}
		return putJSON(ctx, tx, StateKind, id, st.Version+1, now, st)
	})
	if err != nil && !errors.Is(err, gateway.ErrConflict) {
		n.log.WarnContext(ctx, "fhir subscription lease release", "subscription", id, "err", err)
	}
}
