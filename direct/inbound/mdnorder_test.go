package inbound_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
)

// orderTransport records the order in which MDN sends start and finish,
// by the disposition their content-free outer Subject names. It holds a
// processed MDN until another MDN starts, or for hold at most, to give a
// dispatched one every chance to overtake it.
type orderTransport struct {
	next   channel.Transport
	hold   time.Duration
	mu     sync.Mutex
	events []string
	other  chan struct{} // closed when a send other than processed starts
	once   sync.Once
}

func (o *orderTransport) record(e string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}

func (o *orderTransport) Send(ctx context.Context, from string, to []string, msg []byte) (smtpout.Result, error) {
	disp := "other"
	for _, d := range []string{"processed", "dispatched", "failed"} {
		if bytes.Contains(msg, []byte("Subject: Disposition notification: "+d+"\r\n")) {
			disp = d
		}
	}
	o.record(disp + " start")
	if disp == "processed" {
		select {
		case <-o.other:
		case <-time.After(o.hold): // a bound, not a wait for work: nothing else may come
		}
	} else {
		o.once.Do(func() { close(o.other) })
	}
	res, err := o.next.Send(ctx, from, to, msg)
	o.record(disp + " done")
	return res, err
}

// TestProcessedBeforeDispatched: the Delivery Notification guide's order
// is processed, then dispatched. The two are separate jobs; a dispatched
// MDN does not start while the processed one for the same message and
// recipient is still on its way, even when that one is slow.
func TestProcessedBeforeDispatched(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	ot := &orderTransport{next: b.gate.next, hold: 2 * time.Second, other: make(chan struct{})}
	b.gate.next = ot
	sendSealed(t, a, addrA, b.identity.Cert, addrB, compose(t, message.Outbound{From: addrA, To: []string{addrB},
		Subject: "Referral [ref:o1]", MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral.",
		DispositionNotificationTo: addrA, FinalDelivery: true}))
	b.processUntil(t, "both MDNs sent", func() bool { return countAction(b.actions(t, "cardio-b"), "inbound.notice-sent") == 2 })
	ot.mu.Lock()
	events := slices.Clone(ot.events)
	ot.mu.Unlock()
	if want := []string{"processed start", "processed done", "dispatched start", "dispatched done"}; !slices.Equal(events, want) {
		t.Fatalf("sends %q, want %q", events, want)
	}
	if m := b.inbox(t, gateway.InboundNew); len(m) != 1 {
		t.Fatalf("B's inbox: %d", len(m))
	}
}
