package inbound_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/gateway"
)

// killedStore lets a set number of write transactions commit; every one
// after fails, as when the process is killed before it writes again.
type killedStore struct {
	gateway.Store
	commits atomic.Int64 // write transactions left before the kill
}

var errKilled = errors.New("test: process killed")

func (s *killedStore) Update(ctx context.Context, fn func(gateway.Tx) error) error {
	if s.commits.Add(-1) < 0 {
		return errKilled
	}
	return s.Store.Update(ctx, fn)
}

// killedAfterClaim is a second core of A on A's database and channel whose
// process dies right after the transaction that claims a delivery: a
// deliver job it runs sends over SMTP and never records the send.
func killedAfterClaim(t *testing.T, a *node) *gateway.Service {
	t.Helper()
	sealer, err := gateway.NewSealer(a.key)
	if err != nil {
		t.Fatal(err)
	}
	ks := &killedStore{Store: a.store} // a.store already holds the sealer
	ks.commits.Store(1)
	return gateway.NewService(ks, sealer, a.clock, gateway.DefaultConfig(), nil, a.ch, a.fax)
}

// runDeliver runs attempt n of d's deliver job on svc.
func runDeliver(t *testing.T, svc *gateway.Service, d *gateway.Delivery, n int) error {
	t.Helper()
	return svc.HandleJob(t.Context(), gateway.Job{Kind: gateway.JobDeliver, DeliveryID: d.ID, Practice: "clinic-a"},
		gateway.JobMeta{Attempt: n, MaxAttempts: 5})
}

// runInbound runs the processing job of every message n received and has
// not processed (n's workers are stopped, so the test decides when).
func runInbound(t *testing.T, n *node) {
	t.Helper()
	for _, m := range n.inbox(t, gateway.InboundReceived) {
		if err := n.svc.HandleJob(t.Context(), gateway.Job{Kind: gateway.JobInbound, Ref: m.ID}, gateway.JobMeta{Attempt: 1, MaxAttempts: 5}); err != nil {
			t.Fatalf("process inbound %s: %v", m.ID, err)
		}
	}
}

// mdnOf has B answer the message of delivery d (by its Message-ID, which
// A may not have recorded yet) with an MDN, and A process it.
func mdnOf(t *testing.T, a, b *node, d *gateway.Delivery, disp mdn.Disposition) {
	t.Helper()
	mdnFrom(t, a, b, addrB, &gateway.Delivery{RemoteID: a.ch.MessageID(d.ID)}, disp)
	runInbound(t, a)
}

// killedSend creates a referral at A and runs its first deliver job in a
// process killed between the SMTP send and its recording: B holds the
// message, A's delivery is still sending with no Message-ID.
func killedSend(t *testing.T, a, b *node) (*gateway.Referral, *gateway.Delivery) {
	t.Helper()
	r := create(t, a)
	_, ds := a.referral(t, r.ID)
	if len(ds) != 1 || ds[0].Channel != gateway.ChannelDirect {
		t.Fatalf("deliveries %+v: want one on Direct", ds)
	}
	if err := runDeliver(t, killedAfterClaim(t, a), ds[0], 1); !errors.Is(err, errKilled) {
		t.Fatalf("first attempt: %v, want the kill", err)
	}
	_, ds = a.referral(t, r.ID)
	if d := ds[0]; d.State != gateway.DeliverySending || d.RemoteID != "" {
		t.Fatalf("after the kill: delivery %s with remote id %q; want sending, none", d.State, d.RemoteID)
	}
	if l := b.inbox(t, ""); len(l) != 1 {
		t.Fatalf("B holds %d messages after the first send, want 1", len(l))
	}
	return r, ds[0]
}

// checkMatchedOnce checks the end state every ordering must reach: A's
// delivery delivered under its Message-ID, found by it, every MDN A
// received matched to it, the delivery delivered once in the trail, and
// B holding the message once (resends recognised as copies).
func checkMatchedOnce(t *testing.T, a, b *node, r *gateway.Referral, d *gateway.Delivery, mdns, copies int) {
	t.Helper()
	msgID := a.ch.MessageID(d.ID)
	rr, ds := a.referral(t, r.ID)
	if rr.Status != gateway.StatusReceived || len(ds) != 1 || ds[0].State != gateway.DeliveryDelivered {
		t.Fatalf("referral %s with %d deliveries (first %s); want received, one delivered", rr.Status, len(ds), ds[0].State)
	}
	if ds[0].RemoteID != msgID {
		t.Errorf("delivered with remote id %q, want the Message-ID %q", ds[0].RemoteID, msgID)
	}
	if got, err := a.svc.DeliveryByRemoteID(t.Context(), gateway.ChannelDirect, msgID); err != nil || got.ID != d.ID {
		t.Errorf("delivery by Message-ID: %v %v", got, err)
	}
	in := a.inbox(t, "")
	if len(in) != mdns {
		t.Fatalf("A received %d messages, want %d MDNs", len(in), mdns)
	}
	for _, m := range in {
		if m.State != gateway.InboundMatched || m.DeliveryID != d.ID {
			t.Errorf("MDN %s: %s to delivery %q (%s); want matched to %s", m.ID, m.State, m.DeliveryID, m.Applied, d.ID)
		}
	}
	trail := a.actions(t, "clinic-a")
	if n := countAction(trail, "delivery.delivered"); n != 1 {
		t.Errorf("delivery.delivered audited %d times, want 1", n)
	}
	if l := b.inbox(t, ""); len(l) != 1 || l[0].Duplicates != copies {
		t.Errorf("B holds %d messages (first with %d copies), want 1 with %d", len(l), l[0].Duplicates, copies)
	}
}

// TestKilledBetweenSendAndRecord plays the orderings around a process
// killed after the SMTP send of a Direct delivery and before the send was
// recorded: the job is run again (with the same Message-ID) and the MDNs
// of the first send arrive before or after that run.
func TestKilledBetweenSendAndRecord(t *testing.T) {
	t.Run("final MDN before the rerun", func(t *testing.T) {
		a, b := igPair(t, func(e *gateway.Entry) { e.Direct.ProcessedOnly = true })
		stopWorkers(t, a)
		r, d := killedSend(t, a, b)
		mdnOf(t, a, b, d, mdn.Processed) // delivers the delivery that is still sending
		if err := runDeliver(t, a.svc, d, 2); err != nil {
			t.Fatalf("rerun: %v", err)
		}
		checkMatchedOnce(t, a, b, r, d, 1, 0) // the rerun sends nothing
	})
	t.Run("processed MDN before the rerun, dispatched after its deadline", func(t *testing.T) {
		a, b := igPair(t, nil)
		stopWorkers(t, a)
		r, d := killedSend(t, a, b)
		processedAt := a.clock.Now()
		mdnOf(t, a, b, d, mdn.Processed) // progress only: the delivery stays sending
		if err := runDeliver(t, a.svc, d, 2); err != nil {
			t.Fatalf("rerun: %v", err)
		}
		_, ds := a.referral(t, r.ID)
		if ds[0].State != gateway.DeliverySent {
			t.Fatalf("after the rerun: delivery %s, want sent", ds[0].State)
		}
		// The processed MDN already came: the wait is for dispatched now,
		// not a second wait for processed.
		if want := processedAt.Add(a.ch.Config().DispatchedWithin); ds[0].Deadline.Before(want) {
			t.Fatalf("deadline %s after the rerun, want the dispatched deadline %s", ds[0].Deadline, want)
		}
		a.clock.Advance(2 * a.ch.Config().ProcessedWithin)
		var snooze *gateway.SnoozeError
		if err := a.svc.CheckReceiptDeadline(t.Context(), d.ID); !errors.As(err, &snooze) {
			t.Fatalf("deadline check past the processed window: %v, want a snooze", err)
		}
		mdnOf(t, a, b, d, mdn.Dispatched)
		checkMatchedOnce(t, a, b, r, d, 2, 1) // the rerun's copy is recognised by B
	})
	t.Run("rerun before any MDN", func(t *testing.T) {
		a, b := igPair(t, nil)
		stopWorkers(t, a)
		r, d := killedSend(t, a, b)
		if err := runDeliver(t, a.svc, d, 2); err != nil {
			t.Fatalf("rerun: %v", err)
		}
		mdnOf(t, a, b, d, mdn.Processed)
		mdnOf(t, a, b, d, mdn.Dispatched)
		checkMatchedOnce(t, a, b, r, d, 2, 1)
	})
}
