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

// acquire takes the subscription's lease for holder (one run of serve),
// provided neither the subscription nor its delivery state changed since
// this run read them and no other run holds it. It reports whether the
// lease is held. The lease is a column pair of the subscription's row
// (holder, held_until), taken in a transaction that locks the row, so
// runs on several nodes exclude each other too.
func (n *Notifier) acquire(ctx context.Context, s *Subscription, version int, holder string) (bool, error) {
	now := n.cfg.Clock().UTC()
	held := false
	_, err := n.svc.ChangeSubscription(ctx, s.ID, func(c *gateway.Subscription) error {
		st := &c.Delivery
		if c.Version != s.Version || st.Version != version || (st.Holder != "" && st.Holder != holder && now.Before(st.HeldUntil)) {
			return nil
		}
		st.Holder, st.HeldUntil = holder, now.Add(n.leaseFor())
		held = true
		return nil
	})
	if errors.Is(err, gateway.ErrNotFound) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("subscription: lease %s: %w", s.ID, err)
	}
	return held, nil
}

// release gives the lease up after a run, so another need not wait for
// it to expire.
func (n *Notifier) release(ctx context.Context, id, holder string) {
	ctx = context.WithoutCancel(ctx)
	_, err := n.svc.ChangeSubscription(ctx, id, func(c *gateway.Subscription) error {
		if c.Delivery.Holder == holder {
			c.Delivery.Holder, c.Delivery.HeldUntil = "", time.Time{}
		}
		return nil
	})
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		n.log.WarnContext(ctx, "fhir subscription lease release", "subscription", id, "err", err)
	}
}
