package inbound_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
)

func stopWorkers(t *testing.T, n *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.store.StopWorkers(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCrashBetweenAcceptAndProcessing: B answers 250 once the message and
// its processing job are committed; B then dies before any worker ran.
// After a restart on the same database the message is processed once and
// answered once.
func TestCrashBetweenAcceptAndProcessing(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	stopWorkers(t, b)
	msg := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Referral [ref:x9]",
		MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral.",
		DispositionNotificationTo: addrA})
	sendSealed(t, a, addrA, b.identity.Cert, addrB, msg) // 250 received
	list := b.inbox(t, "")
	if len(list) != 1 || list[0].State != gateway.InboundReceived {
		t.Fatalf("after the 250: %+v", list)
	}
	// The crash: the process goes away with the job still queued.
	if err := b.store.Close(); err != nil {
		t.Fatal(err)
	}
	b.open(t)
	if err := b.store.StartWorkers(t.Context(), b.svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopWorkers(t, b) })
	b.processUntil(t, "processed after the restart", func() bool {
		l := b.inbox(t, "")
		return len(l) == 1 && l[0].State == gateway.InboundNew && countAction(b.actions(t, "cardio-b"), "inbound.notice-sent") == 1
	})
	if n := countAction(b.actions(t, "cardio-b"), "direct.inbound-stored"); n != 1 {
		t.Fatalf("applied %d times", n)
	}
}

// TestDuplicateOverSMTP: the same message twice (the same bytes, then a
// resend sealed again, so other bytes under the same Message-ID) is stored
// and applied once; each copy is answered with the MDN the first got.
func TestDuplicateOverSMTP(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	msg := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Referral [ref:x7]",
		MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral.",
		DispositionNotificationTo: addrA})
	wire, err := a.ch.Seal(addrA, b.identity.Cert, msg)
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, a, addrA, addrB, wire)
	b.processUntil(t, "first copy answered", func() bool { return countAction(b.actions(t, "cardio-b"), "inbound.notice-sent") == 1 })
	sendRaw(t, a, addrA, addrB, wire) // the same bytes
	again, err := a.ch.Seal(addrA, b.identity.Cert, msg)
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, a, addrA, addrB, again) // re-encrypted: other bytes
	b.processUntil(t, "each copy answered", func() bool { return countAction(b.actions(t, "cardio-b"), "inbound.notice-sent") == 3 })
	list := b.inbox(t, "")
	if len(list) != 1 || list[0].Duplicates != 2 || list[0].State != gateway.InboundNew {
		t.Fatalf("stored: %+v", list)
	}
	trail := b.actions(t, "cardio-b")
	if n := countAction(trail, "direct.inbound-stored"); n != 1 {
		t.Fatalf("applied %d times", n)
	}
	if n := countAction(trail, "inbound.duplicate"); n != 2 {
		t.Fatalf("%d duplicates audited, want 2", n)
	}
	ns, err := b.svc.Notices(t.Context(), list[0].ID)
	if err != nil || len(ns) != 1 || ns[0].Sends != 3 || ns[0].Disposition != "processed" {
		t.Fatalf("notices: %v %+v", err, ns)
	}
}

// TestDatabaseDownAtEndOfData: B's database is up while the client names
// its recipient (RCPT looks the address up), then goes down before the
// message ends. The end of DATA is answered 451, never 250, and nothing is
// stored: the client keeps the message and retries.
func TestDatabaseDownAtEndOfData(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	stopWorkers(t, b)
	msg := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Referral [ref:x8]",
		MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral."})
	wire, err := a.ch.Seal(addrA, b.identity.Cert, msg)
	if err != nil {
		t.Fatal(err)
	}
	c := mailFromA(t, b)
	if err := c.Rcpt(addrB, nil); err != nil {
		t.Fatalf("RCPT with B's database up: %v", err)
	}
	if err := b.store.Close(); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write(wire); err != nil {
		t.Fatal(err)
	}
	err = w.Close()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("end of DATA with B's database down: %v, want 451", err)
	}
	b.open(t)
	if list := b.inbox(t, ""); len(list) != 0 {
		t.Fatalf("stored although refused: %+v", list)
	}
}

// TestDatabaseDownAtRCPT: with B's database down from the start, the
// recipient cannot be looked up: 451 at RCPT (temporary, as the sender
// sees it), no refusal counted, nothing stored.
func TestDatabaseDownAtRCPT(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	stopWorkers(t, b)
	if err := b.store.Close(); err != nil {
		t.Fatal(err)
	}
	msg := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Referral [ref:x9]",
		MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral."})
	wire, err := a.ch.Seal(addrA, b.identity.Cert, msg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.ch.Config().Transport.Send(t.Context(), addrA, []string{addrB}, wire)
	if err == nil || !smtpout.IsTemporary(err) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("send with B's database down: %v (temporary %v)", err, smtpout.IsTemporary(err))
	}
	b.open(t)
	if list := b.inbox(t, ""); len(list) != 0 {
		t.Fatalf("stored although refused: %+v", list)
	}
}
