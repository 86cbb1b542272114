package inbound_test

import (
	"testing"

	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// TestDispatchedNeedsTheFinalDeliveryField: we ask for final delivery
// notification (X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,true), and
// the Delivery Notification guide's receiving HISP answers that with a
// dispatched MDN carrying the X-DIRECT-FINAL-DESTINATION-DELIVERY field. A
// dispatched MDN without it says the receiving side has the message, not
// that it reached its final destination: the delivery keeps waiting, and
// the dispatched MDN with the field delivers it.
func TestDispatchedNeedsTheFinalDeliveryField(t *testing.T) {
	a, b := igPair(t, nil)
	r, d := sentDirect(t, a)
	dispatched := func(field bool) {
		raw, err := mdn.Build(mdn.Notification{From: addrB, To: addrA, MessageID: message.NewMessageID(domainB), Date: b.clock.Now(),
			ReportingUA: domainB + "; test", OriginalRecipient: addrB, FinalRecipient: addrB, OriginalMessageID: d.RemoteID,
			Disposition: mdn.Dispatched, FinalDelivery: field})
		if err != nil {
			t.Fatal(err)
		}
		sendSealed(t, b, addrB, a.identity.Cert, addrA, raw)
	}
	dispatched(false)
	applied(t, a, 1)
	st, dl, _ := state(t, a, r)
	if st != gateway.StatusRequested || dl.State != gateway.DeliverySent || len(dl.Receipts) != 1 || dl.Receipts[0].Final ||
		!dl.Deadline.Equal(d.SentAt.Add(a.ch.Config().DispatchedWithin)) {
		t.Fatalf("after dispatched without the field: referral %s, delivery %s, receipts %+v, deadline %s", st, dl.State, dl.Receipts, dl.Deadline)
	}
	dispatched(true)
	applied(t, a, 2)
	if st, dl, _ := state(t, a, r); st != gateway.StatusReceived || dl.State != gateway.DeliveryDelivered {
		t.Fatalf("after dispatched with the field: referral %s, delivery %s", st, dl.State)
	}
}
