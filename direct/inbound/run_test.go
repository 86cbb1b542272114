package inbound_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// TestRun drives both sides with Run loops instead of single passes.
func TestRun(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	seedB(t, b)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	for _, n := range []*node{a, b} {
		proc, err := inbound.New(inbound.Config{Service: n.svc, Spool: n.spool, Dir: filepath.Join(t.TempDir(), "run"),
			Channel: n.ch, CRLs: crls(a, b), Interval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- proc.Run(ctx) }()
	}
	r := create(t, a)
	eventually(t, "referral received", func() bool {
		got, _ := a.referral(t, r.ID)
		return got.Status == gateway.StatusReceived
	})
	cancel()
	for range 2 {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	}
}

// TestReceiptBeforeSent: an MDN that overtakes the recording of the send
// (the Message-ID is stored only after SMTP returned) is matched by the
// delivery id the Message-ID derives from.
func TestReceiptBeforeSent(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	hold := make(chan struct{})
	a.gate.hold.Store(&hold)
	t.Cleanup(func() {
		select {
		case <-hold:
		default:
			close(hold)
		}
	})
	r := create(t, a)
	var d *gateway.Delivery
	eventually(t, "delivery sending", func() bool {
		_, ds := a.referral(t, r.ID)
		if len(ds) == 1 && ds[0].State == gateway.DeliverySending {
			d = ds[0]
			return true
		}
		return false
	})
	dispatched, err := mdn.Build(mdn.Notification{From: addrB, To: addrA, MessageID: message.NewMessageID(domainB),
		Date: b.clock.Now(), ReportingUA: domainB + "; test", FinalRecipient: addrB,
		OriginalMessageID: a.ch.MessageID(d.ID), Disposition: mdn.Dispatched, FinalDelivery: true})
	if err != nil {
		t.Fatal(err)
	}
	sendSealed(t, b, addrB, a.identity.Cert, addrA, dispatched)
	a.processUntil(t, "delivered while sending", func() bool {
		got, ds := a.referral(t, r.ID)
		return got.Status == gateway.StatusReceived && ds[0].State == gateway.DeliveryDelivered
	})
	close(hold) // the send completes; the core keeps the delivery delivered
	eventually(t, "message at B", func() bool {
		ids, err := b.spool.List()
		return err == nil && len(ids) == 1
	})
	if _, ds := a.referral(t, r.ID); ds[0].State != gateway.DeliveryDelivered {
		t.Fatalf("delivery after the send returned: %+v", ds[0])
	}
}
