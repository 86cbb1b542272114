package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// testTokenSearch checks R4 token semantics for the patient and business
// identifiers: a system given must match, "|value" means no system, and a
// value alone matches any system.
func testTokenSearch(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	mk := func(patientSystem, identifier string) string {
		n := referral()
		n.Submit = false
		n.Patient.ID, n.Patient.System = "MRN-7", patientSystem
		n.Identifier = identifier
		return e.create(n).ID
	}
	sysA := mk("urn:sys:a", "urn:ids:north|R-1")
	sysB := mk("urn:sys:b", "urn:ids:south|R-1")
	bare := mk("", "R-1")
	mk("urn:sys:a", "urn:ids:north|XR-1") // a longer value with the same suffix
	for _, c := range []struct {
		name string
		q    gateway.ReferralQuery
		want []string
	}{
		{"patient sysA|MRN", gateway.ReferralQuery{Patient: &gateway.Token{System: "urn:sys:a", Value: "MRN-7"}}, []string{sysA, "+xr"}},
		{"patient sysB|MRN", gateway.ReferralQuery{Patient: &gateway.Token{System: "urn:sys:b", Value: "MRN-7"}}, []string{sysB}},
		{"patient |MRN", gateway.ReferralQuery{Patient: &gateway.Token{Value: "MRN-7"}}, []string{bare}},
		{"patient MRN", gateway.ReferralQuery{Patient: &gateway.Token{Value: "MRN-7", AnySystem: true}}, []string{sysA, sysB, bare, "+xr"}},
		{"patient other", gateway.ReferralQuery{Patient: &gateway.Token{Value: "mrn-7", AnySystem: true}}, nil},
		{"identifier sys|v", gateway.ReferralQuery{Identifier: &gateway.Token{System: "urn:ids:north", Value: "R-1"}}, []string{sysA}},
		{"identifier |v", gateway.ReferralQuery{Identifier: &gateway.Token{Value: "R-1"}}, []string{bare}},
		{"identifier v", gateway.ReferralQuery{Identifier: &gateway.Token{Value: "R-1", AnySystem: true}}, []string{sysA, sysB, bare}},
		{"identifier case", gateway.ReferralQuery{Identifier: &gateway.Token{Value: "r-1", AnySystem: true}}, nil},
		{"identifier wildcard", gateway.ReferralQuery{Identifier: &gateway.Token{Value: "_-1", AnySystem: true}}, nil},
	} {
		list, err := e.svc.ListReferrals(gateway.WithPractice(e.ctx, "clinic-a"), c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, r := range list {
			got = append(got, r.ID)
		}
		want := slices.DeleteFunc(slices.Clone(c.want), func(s string) bool { return s == "+xr" })
		if slices.Contains(c.want, "+xr") {
			if len(got) != len(want)+1 {
				t.Fatalf("%s: got %v, want %v and the XR referral", c.name, got, want)
			}
			got = got[:len(want)] // ids are time-ordered; the XR referral was created last
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %v, want %v", c.name, got, want)
		}
	}
}

// testRecordByID checks that a record is found by its id alone and opens
// to the content that was stored.
func testRecordByID(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	n := referral()
	n.Submit = false
	r := e.create(n)
	rec := r.Records[0]
	got, gotRec, err := e.svc.RecordReferral(e.ctx, rec.ID)
	if err != nil || got.ID != r.ID || gotRec != rec {
		t.Fatalf("record lookup: %v %+v %v", got, gotRec, err)
	}
	rc, err := e.svc.RecordContent(e.ctx, got, gotRec)
	if err != nil || string(rc.Content) != string(n.Records[0].Content) {
		t.Fatalf("record content: %q %v", rc.Content, err)
	}
	if _, _, err := e.svc.RecordReferral(e.ctx, "no-such-record"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("unknown record: %v", err)
	}
}

// edgeRecorder is an edge's job handler that notes the jobs it ran.
type edgeRecorder struct {
	mu  sync.Mutex
	ran []string
}

func (r *edgeRecorder) HandleJob(_ context.Context, j gateway.Job, _ gateway.JobMeta) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran = append(r.ran, j.Ref)
	return nil
}

func (r *edgeRecorder) refs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ran)
}

// testEdgeJobs checks that a version hook runs in the transaction of every
// referral version, and that the job it queues there runs once on the
// store's queue and reaches the edge's handler.
func testEdgeJobs(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	rec := &edgeRecorder{}
	e.svc.HandleJobKind(gateway.JobNotifySubscription, rec)
	e.svc.OnVersion(func(ctx context.Context, tx gateway.Tx, r *gateway.Referral) error {
		return tx.Enqueue(ctx, gateway.Job{Kind: gateway.JobNotifySubscription, Ref: fmt.Sprintf("%s/%d", r.ID, r.Version)})
	})
	n := referral()
	n.Submit = false
	r := e.create(n)
	if _, err := e.svc.Submit(e.ctx, gateway.Actor{ID: "u", OrgID: "clinic-a"}, r.ID); err != nil {
		t.Fatal(err)
	}
	e.startWorkers()
	e.waitFor("edge jobs", func() bool {
		refs := rec.refs()
		return slices.Contains(refs, r.ID+"/1") && slices.Contains(refs, r.ID+"/2")
	})
	for _, ref := range rec.refs() {
		if n := len(slices.DeleteFunc(rec.refs(), func(s string) bool { return s != ref })); n != 1 {
			t.Errorf("job %s ran %d times", ref, n)
		}
	}
}
