package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// RecordingMetrics is a gateway.Metrics that keeps what it is told.
type RecordingMetrics struct {
	mu       sync.Mutex
	Events   []audit.Event
	Receipts []gateway.ChannelKind
	Jobs     []string // "kind outcome"
}

// Committed implements gateway.Metrics.
func (m *RecordingMetrics) Committed(ev audit.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Events = append(m.Events, ev)
}

// ReceiptTime implements gateway.Metrics.
func (m *RecordingMetrics) ReceiptTime(ch gateway.ChannelKind, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Receipts = append(m.Receipts, ch)
}

// JobDone implements gateway.Metrics.
func (m *RecordingMetrics) JobDone(kind gateway.JobKind, _, _ time.Duration, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Jobs = append(m.Jobs, string(kind)+" "+outcome)
}

// actions lists the committed events' actions.
func (m *RecordingMetrics) actions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, ev := range m.Events {
		out = append(out, ev.Action)
	}
	return out
}

// testMetrics checks that the core reports committed work only: the
// delivery's events, its receipt time and its job run after commit, and
// nothing of a transaction that rolled back. It also reads the queue depth.
func testMetrics(t *testing.T, h Harness) {
	m := &RecordingMetrics{}
	e := newEnv(t, h, Behavior{}, Behavior{})
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := gateway.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.Metrics = m
	e.svc = gateway.NewService(e.store, sealer, e.clock, cfg, nil, e.fhir, e.direct)

	// A transaction that fails after writing an audit event reports nothing:
	// a service over a store that rolls every write back at its end.
	boom := gateway.ErrConflict
	rb := gateway.NewService(rollbackStore{Store: e.store, err: boom}, sealer, e.clock, cfg, nil)
	err = rb.RecordAudit(e.ctx, audit.Event{Time: e.clock.Now(), Actor: "system", Tenants: []string{"clinic-a"},
		Action: "test.rolled-back", Outcome: audit.OutcomeSuccess})
	if !errors.Is(err, boom) || slices.Contains(m.actions(), "test.rolled-back") {
		t.Fatalf("rolled-back event reported: %v %v", err, m.actions())
	}

	r := e.create(referral())
	qd, ok := e.store.(*sqlstore.Store)
	if !ok {
		t.Fatalf("store %T is not a sqlstore.Store", e.store)
	}
	counts, err := qd.QueueDepth(e.ctx)
	if err != nil || len(counts) != 1 || counts[0].Kind != "deliver" || counts[0].State != "available" || counts[0].Jobs != 1 {
		t.Fatalf("queue depth before the workers start: %+v %v", counts, err)
	}
	e.startWorkers()
	e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	e.waitFor("job reported", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return slices.Contains(m.Jobs, "deliver ok")
	})
	for _, want := range []string{"referral.created", "delivery.sent", "delivery.delivered", "referral.received"} {
		if !slices.Contains(m.actions(), want) {
			t.Errorf("not reported: %s (got %v)", want, m.actions())
		}
	}
	m.mu.Lock()
	receipts := slices.Clone(m.Receipts)
	m.mu.Unlock()
	if !slices.Equal(receipts, []gateway.ChannelKind{gateway.ChannelFHIR}) {
		t.Fatalf("receipt times reported: %v", receipts)
	}
	// A receipt that overtakes the recording of its send (a fast fax
	// callback) is timed when the send is recorded, as zero.
	var overtaken atomic.Pointer[string]
	var receiptErr atomic.Pointer[error]
	e.fhir.SetBehavior(Behavior{Await: time.Hour, AfterSend: func(int) {
		for overtaken.Load() == nil {
			time.Sleep(time.Millisecond)
		}
		_, ds, err := e.svc.Referral(e.ctx, *overtaken.Load())
		if err == nil && len(ds) != 1 {
			err = fmt.Errorf("%d deliveries", len(ds))
		}
		if err == nil {
			_, err = e.svc.RecordReceipt(e.ctx, ds[0].ID, gateway.Receipt{Kind: gateway.ReceiptTaskStatus, Final: true}, 0)
		}
		if err != nil {
			receiptErr.Store(&err)
		}
	}})
	r2 := e.create(referral())
	overtaken.Store(&r2.ID)
	e.waitFor("the overtaken send's job reported", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.Jobs) == 2
	})
	if p := receiptErr.Load(); p != nil {
		t.Fatalf("receipt before the send was recorded: %v", *p)
	}
	if ds := e.deliveries(r2.ID); len(ds) != 1 || ds[0].State != gateway.DeliveryDelivered || ds[0].SentAt.IsZero() {
		t.Fatalf("overtaken delivery: %+v", ds)
	}
	m.mu.Lock()
	receipts = slices.Clone(m.Receipts)
	m.mu.Unlock()
	if !slices.Equal(receipts, []gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelFHIR}) {
		t.Fatalf("receipt times reported with a receipt that overtook its send: %v", receipts)
	}
	// The newest checkpoint's time, for the checkpoint-age gauge.
	if at, err := qd.LatestCheckpoint(e.ctx); err != nil || !at.IsZero() {
		t.Fatalf("latest checkpoint with none: %v %v", at, err)
	}
	st, ok := e.store.(*sqlstore.Store)
	if !ok {
		t.Fatalf("store %T is not a sqlstore", e.store)
	}
	skey, _, err := audit.GenerateSigningKey("gw.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(skey)
	st.ConfigureAudit(sqlstore.AuditConfig{Signer: signer})
	before := time.Now().Add(-time.Second)
	if n, err := st.PublishAudit(e.ctx); err != nil || n == 0 {
		t.Fatalf("published %d checkpoints: %v", n, err)
	}
	if got, err := qd.LatestCheckpoint(e.ctx); err != nil || got.Before(before) || got.After(time.Now()) {
		t.Fatalf("latest checkpoint: %v %v, want just now", got, err)
	}
	// River marks the job completed just after the handler returns.
	e.waitFor("empty queue", func() bool {
		counts, err := qd.QueueDepth(e.ctx)
		return err == nil && len(counts) == 0
	})
}

// rollbackStore runs each write as its store would, then fails it with
// err, so the transaction rolls back after all its work was done.
type rollbackStore struct {
	gateway.Store
	err error
}

// Update implements gateway.Store.
func (s rollbackStore) Update(ctx context.Context, fn func(gateway.Tx) error) error {
	return s.Store.Update(ctx, func(tx gateway.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.err
	})
}
