package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// countingHandler is an InboundHandler that applies every message as new
// mail answered with one notice, and counts what it did.
type countingHandler struct {
	svc       *gateway.Service
	mu        sync.Mutex
	processed map[string]int
	sent      map[string]int
}

func (h *countingHandler) ProcessInbound(ctx context.Context, m *gateway.InboundMessage, raw []byte, _ gateway.JobMeta) error {
	h.mu.Lock()
	h.processed[m.ID]++
	h.mu.Unlock()
	if string(raw[:4]) == "bad!" && !m.Released {
		_, err := h.svc.ApplyInbound(ctx, m.ID, gateway.InboundOutcome{State: gateway.InboundQuarantined,
			Reason: "bad-signature", Error: "signature does not verify"})
		return err
	}
	_, err := h.svc.ApplyInbound(ctx, m.ID, gateway.InboundOutcome{State: gateway.InboundNew, Kind: "message",
		From: "sender@direct.example", Applied: "stored", Summary: &gateway.InboundSummary{Subject: "synthetic " + string(raw[:4]),
			Attachments: []gateway.InboundAttachment{{Name: "note.txt", ContentType: "text/plain", Size: 12}}},
		Notices: []gateway.Notice{{ID: "mdn-" + m.ID, Disposition: "processed", From: "intake@direct.cardio-b.example",
			To: m.MailFrom, Wire: []byte("sealed notice")}},
		Events: []audit.Event{{Actor: "system", Action: "inbound.stored", Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"inbound": m.ID}}}})
	return err
}

func (h *countingHandler) SendNotice(ctx context.Context, n *gateway.Notice, _ gateway.JobMeta) error {
	if string(n.Wire) != "sealed notice" {
		return errors.New("notice lost its wire form")
	}
	h.mu.Lock()
	h.sent[n.ID]++
	h.mu.Unlock()
	return h.svc.NoticeSent(ctx, n.ID, "250 2.0.0")
}

func (h *countingHandler) counts(id string) (processed, sent int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.processed[id], h.sent["mdn-"+id]
}

// testInbound checks the received-message store: stored with its job in one
// transaction, processed once even when the workers start only later (a
// crash between the 250 and processing), a copy answered again but stored
// and applied once, a reused Message-ID with other content quarantined,
// and the operator's release and reject.
func testInbound(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	hd := &countingHandler{svc: e.svc, processed: map[string]int{}, sent: map[string]int{}}
	e.svc.SetInboundHandler(gateway.ChannelDirect, hd)
	in := gateway.NewInbound{Channel: gateway.ChannelDirect, Received: e.clock.Now(), MailFrom: "Sender@Direct.example",
		RcptTo: []string{"intake@direct.cardio-b.example"}, MessageID: "m1@direct.example", Raw: []byte("raw1 encrypted bytes")}

	// Stored before any worker runs: the job waits in the queue.
	m, dup, err := e.svc.ReceiveInbound(e.ctx, in)
	if err != nil || dup {
		t.Fatalf("receive: %v dup=%v", err, dup)
	}
	if m.State != gateway.InboundReceived || len(m.Tenants) != 1 || m.Tenants[0] != "cardio-b" || m.MailFrom != "sender@direct.example" {
		t.Fatalf("stored: %+v", m)
	}
	got, raw, err := e.svc.InboundRaw(e.ctx, m.ID)
	if err != nil || string(raw) != string(in.Raw) || got.ContentHash != gateway.ContentHash(in.Raw) {
		t.Fatalf("raw round trip: %v %q", err, raw)
	}
	e.startWorkers()
	e.waitFor("processed and answered", func() bool { p, s := hd.counts(m.ID); return p == 1 && s == 1 })

	// The same bytes again: answered again, not stored or applied again.
	again, dup, err := e.svc.ReceiveInbound(e.ctx, in)
	if err != nil || !dup || again.ID != m.ID {
		t.Fatalf("duplicate: %v dup=%v id=%s", err, dup, again.ID)
	}
	e.waitFor("notice sent again", func() bool {
		ns, err := e.svc.Notices(e.ctx, m.ID)
		return err == nil && len(ns) == 1 && ns[0].State == gateway.NoticeSent && ns[0].Sends == 2
	})
	if p, _ := hd.counts(m.ID); p != 1 {
		t.Fatalf("duplicate processed again: %d", p)
	}
	list, err := e.svc.ListInbound(e.ctx, gateway.InboundQuery{Tenant: "cardio-b"})
	if err != nil || len(list) != 1 || list[0].State != gateway.InboundNew || list[0].Duplicates != 1 ||
		list[0].Summary == nil || list[0].Summary.Subject != "synthetic raw1" || len(list[0].Summary.Attachments) != 1 {
		t.Fatalf("list after duplicate: %v %+v", err, list)
	}
	ns, err := e.svc.Notices(e.ctx, m.ID)
	if err != nil || len(ns) != 1 || ns[0].State != gateway.NoticeSent || ns[0].Sends != 2 {
		t.Fatalf("notices: %v %+v", err, ns)
	}

	// Same sender and Message-ID, other content (a resend re-encrypts):
	// the same message, answered again, stored and applied once.
	other := in
	other.Raw = []byte("raw2 re-encrypted copy")
	again, dup, err = e.svc.ReceiveInbound(e.ctx, other)
	if err != nil || !dup || again.ID != m.ID || again.Duplicates != 2 {
		t.Fatalf("resend with other bytes: %v dup=%v %+v", err, dup, again)
	}
	e.waitFor("notice sent a third time", func() bool { _, s := hd.counts(m.ID); return s == 3 })
	if p, _ := hd.counts(m.ID); p != 1 {
		t.Fatalf("resend processed again: %d", p)
	}

	// A message processing refuses is kept in the quarantine state.
	bad := gateway.NewInbound{Channel: gateway.ChannelDirect, MailFrom: "other@direct.example",
		RcptTo: []string{"heart@direct.cardio-b.example"}, MessageID: "m2@direct.example", Raw: []byte("bad! tampered")}
	q, _, err := e.svc.ReceiveInbound(e.ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("quarantined", func() bool {
		qs, err := e.svc.ListInbound(e.ctx, gateway.InboundQuery{State: gateway.InboundQuarantined, Tenant: "cardio-b"})
		return err == nil && len(qs) == 1 && qs[0].ID == q.ID && qs[0].Reason == "bad-signature"
	})

	// Decisions: a reason is required, only quarantined messages qualify,
	// another practice may not decide, release processes again.
	if _, err := e.svc.ReleaseInbound(e.ctx, e.admin, q.ID, " "); !isValidation(err) {
		t.Fatalf("release without reason: %v", err)
	}
	if _, err := e.svc.RejectInbound(e.ctx, e.admin, m.ID, "spam"); !isTransition(err) {
		t.Fatalf("reject a processed message: %v", err)
	}
	if _, err := e.svc.ReleaseInbound(e.ctx, gateway.Actor{ID: "user:x", OrgID: "clinic-a"}, q.ID, "looks fine"); !errors.Is(err, gateway.ErrForbidden) {
		t.Fatalf("release by another practice: %v", err)
	}
	rel, err := e.svc.ReleaseInbound(e.ctx, gateway.Actor{ID: "user:op", OrgID: "cardio-b"}, q.ID, "sender confirmed by phone")
	if err != nil || !rel.Released || rel.DecisionBy != "user:op" {
		t.Fatalf("release: %v %+v", err, rel)
	}
	e.waitFor("released message processed", func() bool {
		got, err := e.svc.Inbound(e.ctx, q.ID)
		p, _ := hd.counts(q.ID)
		return err == nil && got.State == gateway.InboundNew && p == 2
	})
	if _, err := e.svc.RejectInbound(e.ctx, e.admin, q.ID, "x"); !isTransition(err) {
		t.Fatalf("reject after release: %v", err)
	}
	var actions []string
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: "cardio-b"}) {
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, en.Action)
	}
	for _, want := range []string{"inbound.stored", "inbound.duplicate", "inbound.notice-sent", "inbound.released"} {
		if !contains(actions, want) {
			t.Errorf("trail of cardio-b lacks %s: %v", want, actions)
		}
	}
}

func isValidation(err error) bool {
	var ve *gateway.ValidationError
	return errors.As(err, &ve)
}

func isTransition(err error) bool {
	var te *gateway.TransitionError
	return errors.As(err, &te)
}
