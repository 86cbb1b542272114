package storetest

import (
	"errors"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// testSubmitAtVersion: a submit that names the version its caller saw (a
// FHIR update with If-Match, a Transition with ExpectVersion) is refused
// with ErrConflict when the draft changed since, inside the transaction that
// would have sent it; nothing is sent. Naming the current version sends.
func testSubmitAtVersion(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	actor := gateway.Actor{ID: "user:dr-a", OrgID: "clinic-a"}
	n := referral()
	n.ReasonText = "Patient SSN 123-45-6789 for billing."
	r, err := e.svc.CreateReferral(e.ctx, actor, n)
	if _, ok := as[*gateway.MinimumNecessaryError](err); !ok || r == nil || r.Status != gateway.StatusDraft {
		t.Fatalf("want a held draft: %+v %v", r, err)
	}
	seen := r.Version
	changed, err := e.svc.OverrideMinimumNecessary(e.ctx, actor, r.ID, "receiving practice bills the referral")
	if err != nil {
		t.Fatal(err)
	}
	if changed.Version == seen {
		t.Fatalf("the override did not change the version (%d)", seen)
	}
	if _, err := e.svc.SubmitAt(e.ctx, actor, r.ID, seen); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("submit at the stale version %d (now %d): %v, want ErrConflict", seen, changed.Version, err)
	}
	if _, err := e.svc.Transition(e.ctx, actor, r.ID, gateway.StatusRequested, gateway.TransitionInput{ExpectVersion: seen}); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("transition to requested at the stale version: %v, want ErrConflict", err)
	}
	cur, ds, err := e.svc.Referral(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Status != gateway.StatusDraft || len(ds) != 0 || cur.Version != changed.Version {
		t.Fatalf("after the refused submits: status %s, %d deliveries, version %d (want draft, none, %d)", cur.Status, len(ds), cur.Version, changed.Version)
	}
	sent, err := e.svc.SubmitAt(e.ctx, actor, r.ID, changed.Version)
	if err != nil || sent.Status != gateway.StatusRequested {
		t.Fatalf("submit at the current version: %+v %v", sent, err)
	}
}
