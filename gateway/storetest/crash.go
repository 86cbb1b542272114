package storetest

import (
	"strconv"
	"testing"

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
	ago := `now() - interval '5 seconds'`
	if e.store.(*sqlstore.Store).Backend().Dialect().Name == "sqlite" {
		ago = `datetime('now', '-5 seconds', 'subsec')`
	}
	if n := rawExec(t, e.store, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+ago+` WHERE kind = 'deliver'`); n != 1 {
		t.Fatalf("%d deliver jobs marked running, want 1", n)
	}
	e.startWorkers()
	e.waitFor("received after the rescue", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	ds := e.deliveries(r.ID)
	if len(ds) != 1 || e.fhir.Received() != 1 || e.fhir.Attempts(ds[0].ID) != 1 {
		t.Fatalf("deliveries %d, received %d: want one delivery sent once", len(ds), e.fhir.Received())
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
