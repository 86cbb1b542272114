package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// round reads the progress of the newest directory check round.
func (e *env) round() *gateway.DirectoryRound {
	e.t.Helper()
	st, err := e.svc.DirectoryRound(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// testDirectoryRound checks an admin's request for a directory check
// round and the progress DirectoryRound reports: the request is durable
// and audited, requests made before a round starts share it, and a
// practice's actor may not ask. Before any process works the queue the
// request waits (and Serving says no one works it); then the round shows
// the entries it queued, the checks still pending while they are held
// half-way, and once every check is recorded its end with each entry's
// outcome. A later request gets a round of its own whose counts are its
// own checks, not the earlier round's.
func testDirectoryRound(t *testing.T, h Harness) {
	hold := make(chan struct{})
	e := newEnv(t, h, Behavior{Check: gateway.CheckFailed, CheckReason: "metadata: receiver refused with 404", CheckHold: hold}, Behavior{})
	if st := e.round(); st.Round != 0 || st.Finished || st.Serving || st.RoundsWaiting != 0 || st.Pending.Total() != 0 {
		t.Fatalf("before any round: %+v", st)
	}
	if _, err := e.svc.RequestDirectoryCheck(e.ctx, gateway.Actor{ID: "user:pat", OrgID: "clinic-a"}, "asked"); !errors.Is(err, gateway.ErrForbidden) {
		t.Fatalf("a practice's actor asked for a directory check: %v, want ErrForbidden", err)
	}
	for range 2 {
		after, err := e.svc.RequestDirectoryCheck(e.ctx, e.admin, "asked")
		if err != nil || after != 0 {
			t.Fatalf("request: after %d, %v; want 0 (no round has started)", after, err)
		}
	}
	if st := e.round(); st.Round != 0 || st.RoundsWaiting != 1 || st.Serving {
		t.Fatalf("two requests before any worker: %+v, want one round waiting and no one serving", st)
	}
	requested := 0
	for en, err := range e.store.AuditEntries(gateway.GatewayWide(e.ctx, gateway.PathAudit), gateway.AuditQuery{Tenant: "directory"}) {
		if err != nil {
			t.Fatal(err)
		}
		if en.Action == "directory.check-requested" && en.Actor == e.admin.ID && en.Detail["why"] == "asked" && en.Detail["after"] == "0" {
			requested++
		}
	}
	if requested != 2 {
		t.Fatalf("%d audited requests, want 2", requested)
	}

	e.startWorkers() // nothing periodic: only the requested round runs
	var st *gateway.DirectoryRound
	e.waitFor("the round listed and both entry checks running", func() bool {
		st = e.round()
		return st.Round == 1 && st.Listed && st.Pending.Running == 2 && st.Serving
	})
	if st.Entries != 2 || st.Finished || st.Checked != 0 || st.RoundsWaiting != 0 || st.Started.IsZero() {
		t.Fatalf("round half-way: %+v, want 2 entries queued, none checked, not finished", st)
	}
	// Asked for while round 1's checks run (they may have read the
	// entries before what prompted the request), round 2 queues checks of
	// its own rather than counting on those.
	e.clock.Advance(time.Minute)
	after, err := e.svc.RequestDirectoryCheck(e.ctx, e.admin, "asked again")
	if err != nil || after != 1 {
		t.Fatalf("request while round 1 runs: after %d, %v; want 1", after, err)
	}
	e.waitFor("round 2 listed", func() bool { st = e.round(); return st.Round == 2 && st.Listed })
	if st.Entries != 2 || st.Pending.Total() != 4 || st.Finished {
		t.Fatalf("round 2 while round 1's checks are held: %+v, want its own 2 checks pending beside round 1's 2", st)
	}
	close(hold)
	e.waitFor("the round finished", func() bool { st = e.round(); return st.Finished })
	if st.Round != 2 || st.Entries != 2 || st.Checked != 2 || st.Failed != 2 || st.OK != 0 || st.Pending.Total() != 0 ||
		!slices.Equal(st.FailedEntries, []string{"cardio-b", "dr-heart"}) || st.FinishedAt.Before(st.Started) {
		t.Fatalf("finished round: %+v, want both entries checked and failed", st)
	}

	// The receiver's endpoint answers again; a new request gets round 3,
	// which counts only its own checks.
	e.fhir.SetBehavior(Behavior{})
	e.clock.Advance(time.Minute)
	if after, err = e.svc.RequestDirectoryCheck(e.ctx, e.admin, "asked again"); err != nil || after != 2 {
		t.Fatalf("third request: after %d, %v; want 2", after, err)
	}
	e.waitFor("round 3 finished", func() bool { st = e.round(); return st.Round == 3 && st.Finished })
	if st.Checked != 2 || st.OK != 2 || st.Failed != 0 || len(st.FailedEntries) != 0 {
		t.Fatalf("round 3: %+v, want both entries checked ok", st)
	}
}

// testRoundCountFromOlderDocuments: a round document written before the
// count moved into its body kept the count as its version; a request
// reads it from there.
func testRoundCountFromOlderDocuments(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	for v := 1; v <= 3; v++ {
		if err := e.store.Update(e.ctx, func(tx gateway.Tx) error {
			return tx.PutDocument(e.ctx, gateway.Document{Kind: "round", ID: string(gateway.JobVerifyDirectory), Version: v,
				Updated: e.clock.Now(), Body: []byte("{}")})
		}); err != nil {
			t.Fatal(err)
		}
	}
	after, err := e.svc.RequestDirectoryCheck(e.ctx, e.admin, "asked")
	if err != nil || after != 3 {
		t.Fatalf("request over an older round document: after %d, %v; want 3", after, err)
	}
	if st := e.round(); st.Round != 3 || st.Listed {
		t.Fatalf("older round document reads as %+v, want round 3", st)
	}
}
