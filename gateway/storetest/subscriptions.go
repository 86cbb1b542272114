package storetest

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// testSubscriptions checks the core's FHIR subscription records: each
// practice sees only its own, an organisation's count is limited, a
// subscription names only its own organisation, delivering changes the
// delivery state without a new version, and every referral version queues
// one notification job per live subscription it matches, in the
// transaction that stores it, whichever of the two practices acts (on
// PostgreSQL under row-level security, the acting practice reads the other
// practice's subscriptions only to match them).
func testSubscriptions(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	rec := &edgeRecorder{}
	e.svc.ServeSubscriptions(rec)
	asA, asB := gateway.WithPractice(e.ctx, "clinic-a"), gateway.WithPractice(e.ctx, "cardio-b")
	newSub := func(org, param string, status gateway.SubscriptionStatus) gateway.Subscription {
		return gateway.Subscription{OrgID: org, ClientID: "ehr-" + org, Status: status, Reason: "test",
			Criteria: gateway.SubscriptionCriteria{Param: param, OrgID: org}, Endpoint: "https://ehr." + org + ".example/hook",
			Header: []string{"Authorization: Bearer s3cret"}, Delivery: gateway.SubscriptionDelivery{Start: e.clock.Now(), Cursor: e.clock.Now()}}
	}
	create := func(s gateway.Subscription, asOrg string) gateway.Subscription {
		t.Helper()
		out, err := e.svc.CreateSubscription(gateway.WithPractice(e.ctx, asOrg), s, 2)
		if err != nil {
			t.Fatalf("create subscription: %v", err)
		}
		return out
	}
	subB := create(newSub("cardio-b", "owner", gateway.SubscriptionActive), "cardio-b")
	offB := create(newSub("cardio-b", "owner", gateway.SubscriptionOff), "cardio-b")
	subA := create(newSub("clinic-a", "requester", gateway.SubscriptionActive), "clinic-a")
	if subB.Version != 1 || subB.Delivery.Version != 1 || subB.ID == "" {
		t.Fatalf("created %+v", subB)
	}

	// Refusals: the organisation's limit, criteria of another organisation.
	if _, err := e.svc.CreateSubscription(asB, newSub("cardio-b", "owner", gateway.SubscriptionActive), 2); !errors.Is(err, gateway.ErrLimit) {
		t.Errorf("third subscription with a limit of 2: %v", err)
	}
	other := newSub("clinic-a", "owner", gateway.SubscriptionActive)
	other.Criteria.OrgID = "cardio-b"
	var ve gateway.ValidationErrors
	if _, err := e.svc.CreateSubscription(asA, other, 0); !errors.As(err, &ve) {
		t.Errorf("criteria of another organisation: %v", err)
	}

	// Each practice sees its own.
	if _, err := e.svc.Subscription(asA, subB.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("clinic-a reads cardio-b's subscription: %v", err)
	}
	if _, err := e.svc.ChangeSubscription(asA, subB.ID, func(s *gateway.Subscription) error { s.Status = gateway.SubscriptionOff; return nil }); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("clinic-a changes cardio-b's subscription: %v", err)
	}
	if list, err := e.svc.Subscriptions(asB, gateway.SubscriptionQuery{}); err != nil || len(list) != 2 {
		t.Errorf("cardio-b lists %d subscriptions (%v), want 2", len(list), err)
	}
	got, err := e.svc.Subscription(asB, subB.ID)
	if err != nil || len(got.Header) != 1 || got.Header[0] != "Authorization: Bearer s3cret" || got.Endpoint != subB.Endpoint {
		t.Fatalf("read back %+v (%v)", got, err)
	}

	// A referral from clinic-a to cardio-b, created acting for clinic-a:
	// each of its versions queues a job for cardio-b's active owner
	// subscription and clinic-a's requester one, none for the one that is off.
	r := e.create(referral())
	e.startWorkers()
	versions, err := e.svc.ReferralVersions(asA, r.ID)
	if err != nil || len(versions) == 0 {
		t.Fatalf("versions: %d %v", len(versions), err)
	}
	var want []string
	for _, v := range versions {
		for _, s := range []gateway.Subscription{subB, subA} {
			want = append(want, s.ID+"/"+r.ID+"/"+strconv.Itoa(v.Version))
		}
	}
	e.waitFor("notification jobs", func() bool {
		refs := rec.refs()
		return !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(refs, w) })
	})
	for _, ref := range rec.refs() {
		if strings.HasPrefix(ref, offB.ID+"/") {
			t.Errorf("a subscription that is off got job %s", ref)
		}
	}

	// Delivery state changes without a new version; a status change is a
	// new version and queues a run of the subscription.
	d, err := e.svc.ChangeSubscription(e.ctx, subB.ID, func(s *gateway.Subscription) error {
		s.Delivery.Failures, s.Delivery.NextAttempt = 1, e.clock.Now()
		s.Delivery.Sent = map[string]gateway.SentVersion{r.ID: {Version: 1, Updated: r.Updated}}
		return nil
	})
	if err != nil || d.Version != 1 || d.Delivery.Version != 2 {
		t.Fatalf("after a delivery change: version %d, delivery version %d (%v)", d.Version, d.Delivery.Version, err)
	}
	if same, err := e.svc.ChangeSubscription(e.ctx, subB.ID, func(*gateway.Subscription) error { return nil }); err != nil || same.Delivery.Version != 2 || same.Version != 1 {
		t.Errorf("a change that changes nothing: %+v %v", same, err)
	}
	got, err = e.svc.Subscription(e.ctx, subB.ID)
	if err != nil || got.Delivery.Sent[r.ID].Version != 1 || got.Delivery.Failures != 1 {
		t.Errorf("delivery state read back: %+v %v", got.Delivery, err)
	}
	if _, err := e.svc.ChangeSubscription(asB, subB.ID, func(s *gateway.Subscription) error { s.Status = gateway.SubscriptionRequested; return nil }); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the run of a changed subscription", func() bool { return slices.Contains(rec.refs(), subB.ID+"/2") })

	// A delete of a version the subscription is no longer at deletes
	// nothing; of the current one, deletes.
	cur, err := e.svc.Subscription(asB, subB.ID)
	if err != nil {
		t.Fatal(err)
	}
	stale := func(v int) bool { return v == cur.Version-1 }
	var vc *gateway.VersionConflict
	if err := e.svc.DeleteSubscriptionIf(asB, subB.ID, stale); !errors.As(err, &vc) || vc.Version != cur.Version || !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("delete at a stale version: %v, want a VersionConflict at %d", err, cur.Version)
	}
	if _, err := e.svc.Subscription(asB, subB.ID); err != nil {
		t.Fatalf("after the refused delete: %v", err)
	}
	if err := e.svc.DeleteSubscriptionIf(asB, subB.ID, func(v int) bool { return v == cur.Version }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Subscription(asB, subB.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

// testAdoptSubscriptionDocuments checks that subscriptions kept as
// documents before their table existed move into it once, with their
// delivery state, and that the documents are gone.
func testAdoptSubscriptionDocuments(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	now := e.clock.Now().UTC().Truncate(time.Second)
	sub := `{"id":"legacy-1","orgId":"cardio-b","clientId":"ehr-b","status":"active","reason":"r",
		"criteria":{"Param":"owner","OrgID":"cardio-b"},"endpoint":"https://ehr.example/hook","header":["Authorization: Bearer x"]}`
	st := `{"start":"` + now.Add(-time.Hour).Format(time.RFC3339) + `","cursor":"` + now.Format(time.RFC3339) +
		`","sent":{"ref-1":{"v":3,"u":"` + now.Format(time.RFC3339) + `"}},"failures":2}`
	err := e.store.Update(e.ctx, func(tx gateway.Tx) error {
		if err := tx.PutDocument(e.ctx, gateway.Document{Kind: "fhir-subscription", ID: "legacy-1", Version: 4, Updated: now, Body: []byte(sub)}); err != nil {
			return err
		}
		return tx.PutDocument(e.ctx, gateway.Document{Kind: "fhir-subscription-state", ID: "legacy-1", Version: 9, Updated: now, Body: []byte(st)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.AdoptSubscriptionDocuments(e.ctx); err != nil || n != 1 {
		t.Fatalf("adopted %d (%v), want 1", n, err)
	}
	got, err := e.svc.Subscription(e.ctx, "legacy-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.OrgID != "cardio-b" || got.Status != gateway.SubscriptionActive || got.Version != 4 || got.Header[0] != "Authorization: Bearer x" ||
		!got.Delivery.Cursor.Equal(now) || got.Delivery.Sent["ref-1"].Version != 3 || got.Delivery.Failures != 2 {
		t.Errorf("adopted %+v", got)
	}
	if n, err := e.svc.AdoptSubscriptionDocuments(e.ctx); err != nil || n != 0 {
		t.Errorf("second run adopted %d (%v)", n, err)
	}
	// Every later start finds nothing to adopt with a read alone: a
	// write transaction, which would fail here, is never opened.
	flaky := &flakyStore{Store: e.store}
	flaky.trip(1)
	sealer, _ := gateway.NewSealer(make([]byte, 32))
	svc := gateway.NewService(flaky, sealer, e.clock, gateway.DefaultConfig(), nil, e.fhir, e.direct)
	if n, err := svc.AdoptSubscriptionDocuments(e.ctx); err != nil || n != 0 || flaky.failed != 0 {
		t.Errorf("run with nothing left: adopted %d (%v), %d write transaction(s) opened, want none", n, err, flaky.failed)
	}
	err = e.store.View(e.ctx, func(tx gateway.Tx) error {
		if _, err := tx.Document(e.ctx, "fhir-subscription", "legacy-1"); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("the document is still there: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
