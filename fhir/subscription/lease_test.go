package subscription

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// A node that took a subscription's lease and died (its lease is in the
// row, its process is gone) keeps every other run from sending until the
// lease runs out; then the next run sends, and nothing is lost.
func TestLeaseOfADeadHolderRunsOut(t *testing.T) {
	ctx := context.Background()
	svc, clock := newService(t)
	cfg := Config{AllowHTTP: true, AllowPrivateNetworks: true, Timeout: time.Second, Interval: time.Second}
	reg, n := NewRegistry(svc, cfg), NewNotifier(svc, cfg, nil)
	ep := newEndpoint(t, http.StatusOK)
	s, err := reg.Create(ctx, Owner{OrgID: "org-a"}, ep.resource(StatusRequested, "Task?owner=org-a"))
	if err != nil {
		t.Fatal(err)
	}
	heldUntil := clock.Now().Add(n.leaseFor())
	if _, err := svc.ChangeSubscription(ctx, s.ID, func(c *gateway.Subscription) error {
		c.Delivery.Holder, c.Delivery.HeldUntil = "dead-node/run-1", heldUntil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := n.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if ep.count() != 0 {
		t.Fatalf("sent %d while another holder's lease was live", ep.count())
	}
	clock.Advance(n.leaseFor() + time.Second)
	if err := n.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Get(ctx, "org-a", s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ep.count() != 1 || got.Status != StatusActive {
		t.Fatalf("after the lease ran out: %d handshakes, status %s", ep.count(), got.Status)
	}
	st, err := reg.State(ctx, "org-a", s.ID)
	if err != nil || st.Holder != "" {
		t.Errorf("the lease was not released after the run: %+v %v", st, err)
	}
}
