package storetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// The crash tests need the River job table; they run on the SQL stores.

// rawExec runs one statement ($N placeholders) behind the core's back.
func rawExec(t *testing.T, s gateway.Store, q string, args ...any) int64 {
	t.Helper()
	ss, ok := s.(*sqlstore.Store)
	if !ok {
		t.Skip("not a SQL store")
	}
	ctx := t.Context()
	btx, err := ss.Backend().Begin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer btx.Rollback(ctx)
	d := ss.Backend().Dialect()
	n, err := btx.Exec(ctx, d.Rebind(q), d.Args(args)...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if err := btx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// rawString reads one text value.
func rawString(t *testing.T, s gateway.Store, q string, args ...any) string {
	t.Helper()
	ss := s.(*sqlstore.Store)
	ctx := t.Context()
	btx, err := ss.Backend().Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer btx.Rollback(ctx)
	d := ss.Backend().Dialect()
	var v string
	if err := btx.QueryRow(ctx, d.Rebind(q), d.Args(args)...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// testCrashedJobResumes leaves a delivery job as a process killed mid-send
// leaves it (running, attempted 5 s ago, no worker alive) and starts
// the workers: the job is rescued after RescueAfter (1 s in the test
// queue), not after River's own rescuer (at least 50 s here, every 30 s),
// and the referral is delivered once.
func testCrashedJobResumes(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	r := e.create(referral())
	ago := staleStamp(e)
	if n := rawExec(t, e.store, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+ago+` WHERE kind = 'deliver'`); n != 1 {
		t.Fatalf("%d deliver jobs marked running, want 1", n)
	}
	e.startWorkers()
	e.waitDeliveredOnce(r.ID)
}

// testCrashedRescueResumes is a leader killed in the middle of a rescue
// sweep: its rescue job and a delivery job stay running with stale stamps
// and no worker alive. The next leader's rescue must still run, so the
// delivery resumes after RescueAfter, not after River's own rescuer (at
// least 50 s here, beyond waitFor's deadline).
func testCrashedRescueResumes(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	e.startWorkers()
	const sweeps = `SELECT CAST(COUNT(*) AS text) FROM river_job WHERE kind = 'rescue_stuck' AND state = 'completed'`
	e.waitFor("a first rescue sweep", func() bool { return atoi(t, rawString(t, e.store, sweeps)) >= 1 })
	if err := e.store.StopWorkers(e.ctx); err != nil {
		t.Fatal(err)
	}
	r := e.create(referral())
	ago := staleStamp(e)
	if n := rawExec(t, e.store, `UPDATE river_job SET state = 'running', finalized_at = NULL, attempted_at = `+ago+
		` WHERE id = (SELECT MAX(id) FROM river_job WHERE kind = 'rescue_stuck')`); n != 1 {
		t.Fatalf("%d rescue jobs marked running, want 1", n)
	}
	if n := rawExec(t, e.store, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+ago+` WHERE kind = 'deliver'`); n != 1 {
		t.Fatalf("%d deliver jobs marked running, want 1", n)
	}
	e.startWorkers()
	e.waitDeliveredOnce(r.ID)
}

// testReceiptForQueuedDelivery is the receiver taking a message whose
// answer never reached us (a Direct receiver killed between committing the
// message and its 250): the send counts as failed, the delivery goes back
// to queued for a retry, and then the receiver's final receipt (its
// dispatched MDN) arrives. The receipt proves delivery, so it delivers the
// queued delivery (it was refused, and the receipt lost, before), and the
// pending retry then sends nothing.
func testReceiptForQueuedDelivery(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	r := e.create(referral())
	ds := e.deliveries(r.ID)
	if len(ds) != 1 || ds[0].State != gateway.DeliveryQueued {
		t.Fatalf("deliveries %+v: want one queued", ds)
	}
	d, err := e.svc.RecordReceipt(e.ctx, ds[0].ID, gateway.Receipt{Kind: gateway.ReceiptDispatched, Final: true, Detail: "mdn dispatched"}, 0)
	if err != nil {
		t.Fatalf("final receipt for a queued delivery: %v", err)
	}
	if d.State != gateway.DeliveryDelivered || e.status(r.ID) != gateway.StatusReceived {
		t.Fatalf("after the receipt: delivery %s, referral %s; want delivered, received", d.State, e.status(r.ID))
	}
	if d.SentAt.IsZero() {
		t.Fatal("the delivery the receipt proves has no send time")
	}
	acts := e.actions("clinic-a", r.ID)
	if !contains(acts, "delivery.sent") || !contains(acts, "delivery.delivered") {
		t.Fatalf("the referrer's trail %v: want the send the receipt proves and the delivery", acts)
	}
	e.startWorkers()
	const open = `SELECT CAST(COUNT(*) AS text) FROM river_job WHERE kind = 'deliver' AND state <> 'completed'`
	e.waitFor("the pending send job done", func() bool { return rawString(t, e.store, open) == "0" })
	if n := e.fhir.Attempts(d.ID); n != 0 {
		t.Fatalf("the delivered delivery was sent again %d time(s)", n)
	}
}

// testProgressReceiptForQueuedDelivery is the same lost answer, followed
// first by a progress receipt (a processed MDN) with a deadline for the
// final one: the receipt proves the send, so the delivery becomes sent
// with its send recorded, the pending retry sends nothing, and the final
// receipt then delivers it.
func testProgressReceiptForQueuedDelivery(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	r := e.create(referral())
	ds := e.deliveries(r.ID)
	if len(ds) != 1 || ds[0].State != gateway.DeliveryQueued {
		t.Fatalf("deliveries %+v: want one queued", ds)
	}
	d, err := e.svc.RecordReceipt(e.ctx, ds[0].ID, gateway.Receipt{Kind: gateway.ReceiptProcessed, Detail: "mdn processed"}, time.Hour)
	if err != nil {
		t.Fatalf("progress receipt for a queued delivery: %v", err)
	}
	if d.State != gateway.DeliverySent || d.SentAt.IsZero() || d.Deadline.IsZero() {
		t.Fatalf("after the progress receipt: state %s, sent at %v, deadline %v; want sent, both set", d.State, d.SentAt, d.Deadline)
	}
	e.startWorkers()
	const open = `SELECT CAST(COUNT(*) AS text) FROM river_job WHERE kind = 'deliver' AND state <> 'completed'`
	e.waitFor("the pending send job done", func() bool { return rawString(t, e.store, open) == "0" })
	if n := e.fhir.Attempts(d.ID); n != 0 {
		t.Fatalf("the delivery the receipt proves was sent again %d time(s)", n)
	}
	if d, err = e.svc.RecordReceipt(e.ctx, d.ID, gateway.Receipt{Kind: gateway.ReceiptDispatched, Final: true, Detail: "mdn dispatched"}, 0); err != nil {
		t.Fatal(err)
	}
	if d.State != gateway.DeliveryDelivered || e.status(r.ID) != gateway.StatusReceived {
		t.Fatalf("after the final receipt: delivery %s, referral %s; want delivered, received", d.State, e.status(r.ID))
	}
	acts := e.actions("clinic-a", r.ID)
	if n := len(slices.DeleteFunc(slices.Clone(acts), func(a string) bool { return a != "delivery.sent" })); n != 1 || !contains(acts, "delivery.delivered") {
		t.Fatalf("the referrer's trail %v: want one delivery.sent and the delivery", acts)
	}
}

// testHeartbeatKeepsLongSend blocks a send for longer than RescueAfter:
// its heartbeats keep the rescue job from handing the delivery to a
// second worker while the first is still sending.
func testHeartbeatKeepsLongSend(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{BlockFirst: true}, Behavior{})
	e.startWorkers()
	r := e.create(referral())
	<-e.fhir.Blocked()
	ds := e.deliveries(r.ID)
	// Five distinct heartbeats (one every RescueAfter/4) span a RescueAfter;
	// after them, two rescue sweeps must pass over the running job.
	const q = `SELECT CAST(attempted_at AS text) FROM river_job WHERE kind = 'deliver'`
	seen := map[string]bool{rawString(t, e.store, q): true}
	e.waitFor("five heartbeats", func() bool {
		seen[rawString(t, e.store, q)] = true
		return len(seen) >= 6
	})
	const sweeps = `SELECT CAST(COUNT(*) AS text) FROM river_job WHERE kind = 'rescue_stuck' AND state = 'completed'`
	n0 := rawString(t, e.store, sweeps)
	e.waitFor("two rescue sweeps", func() bool {
		n := rawString(t, e.store, sweeps)
		return atoi(t, n) >= atoi(t, n0)+2
	})
	if n := e.fhir.Attempts(ds[0].ID); n != 1 {
		t.Fatalf("a live send was rescued: %d sends of one delivery", n)
	}
	if st := rawString(t, e.store, `SELECT CAST(state AS text) FROM river_job WHERE kind = 'deliver'`); st != "running" {
		t.Fatalf("job state while its send blocks: %s", st)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testReceiptKeys records receipts under edge keys: a key commits with its
// receipt, a replay changes nothing, the same key on another delivery is
// not a replay, and an expired key is taken over.
func testReceiptKeys(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{Await: time.Hour}, Behavior{})
	e.startWorkers()
	other := referral()
	other.Patient.ID = "MRN-0002"
	r1, r2 := e.create(referral()), e.create(other)
	var d1, d2 *gateway.Delivery
	e.waitFor("both sent", func() bool {
		ds1, ds2 := e.deliveries(r1.ID), e.deliveries(r2.ID)
		d1, d2 = ds1[0], ds2[0]
		return d1.State == gateway.DeliverySent && d2.State == gateway.DeliverySent
	})
	ok := gateway.Receipt{Kind: gateway.ReceiptFaxSuccess, Final: true, Detail: "2 pages"}
	once := func(d *gateway.Delivery, key string, expires time.Time) bool {
		t.Helper()
		first, _, err := e.svc.RecordReceiptOnce(e.ctx, gateway.KeyedReceipt{DeliveryID: d.ID, Key: key, Receipt: ok, Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	later := e.clock.Now().Add(time.Hour)
	if !once(d1, "fax:77/success", later) {
		t.Fatal("first receipt taken for a replay")
	}
	if e.status(r1.ID) != gateway.StatusReceived {
		t.Fatalf("referral 1 is %s after its receipt", e.status(r1.ID))
	}
	n := len(e.deliveries(r1.ID)[0].Receipts)
	if once(d1, "fax:77/success", later) || len(e.deliveries(r1.ID)[0].Receipts) != n {
		t.Fatal("a replay was applied")
	}
	if !once(d2, "fax:77/success", later) || e.status(r2.ID) != gateway.StatusReceived {
		t.Fatal("the same key on another delivery was taken for a replay")
	}
	// An expired key is forgotten: the event counts again (a late receipt).
	if !once(d1, "fax:78/success", e.clock.Now()) {
		t.Fatal("a new key taken for a replay")
	}
	if !once(d1, "fax:78/success", later) {
		t.Fatal("an expired key still blocks its event")
	}
}

// staleStamp is SQL for a job stamp five seconds old, past the fast
// queue's RescueAfter, in the store's dialect.
func staleStamp(e *env) string {
	if e.store.(*sqlstore.Store).Backend().Dialect().Name == "sqlite" {
		return `datetime('now', '-5 seconds', 'subsec')`
	}
	return `now() - interval '5 seconds'`
}

// waitDeliveredOnce waits for referral id to be received and checks that
// its one delivery reached the receiver once, in one send.
func (e *env) waitDeliveredOnce(id string) {
	e.t.Helper()
	e.waitFor("received after the rescue", func() bool { return e.status(id) == gateway.StatusReceived })
	ds := e.deliveries(id)
	if len(ds) != 1 || e.fhir.Received() != 1 || e.fhir.Attempts(ds[0].ID) != 1 {
		e.t.Fatalf("deliveries %d, received %d: want one delivery sent once", len(ds), e.fhir.Received())
	}
}
