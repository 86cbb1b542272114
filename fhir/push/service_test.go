package push

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// newService is a gateway with this channel, an SQLite store and running
// workers, and a verified receiver with an active BAA.
func newService(t *testing.T, ch *Channel, receiver *gateway.Entry) *gateway.Service {
	t.Helper()
	return newServiceWith(t, ch, receiver, nil)
}

// testQueue is quick to poll and to retry.
var testQueue = sqlstore.QueueConfig{MaxWorkers: 4, FetchPollInterval: 20 * time.Millisecond, MaxAttempts: 5,
	RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, JobTimeout: 10 * time.Second, RescueAfter: time.Minute}

// newServiceWith is newService that lets setup register jobs before the
// workers start.
func newServiceWith(t *testing.T, ch *Channel, receiver *gateway.Entry, setup func(*gateway.Service)) *gateway.Service {
	t.Helper()
	svc, _ := newServiceStore(t, ch, receiver, setup)
	return svc
}

// newServiceStore is newServiceWith that also returns the store, for
// tests that read the job queue.
func newServiceStore(t *testing.T, ch *Channel, receiver *gateway.Entry, setup func(*gateway.Service)) (*gateway.Service, *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	store, err := litestore.Open(ctx, filepath.Join(t.TempDir(), "g.db"), testQueue)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := gateway.NewSealer(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc := gateway.NewService(store, sealer, gateway.SystemClock{}, gateway.DefaultConfig(), nil, ch)
	if setup != nil {
		setup(svc)
	}
	admin := gateway.Actor{ID: "user:admin"}
	for _, e := range []*gateway.Entry{{ID: "org-north", Kind: gateway.KindOrganization, Name: "North (synthetic)"}, receiver} {
		if _, err := svc.PutEntry(ctx, admin, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.VerifyEntry(ctx, admin, receiver.ID, "test"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := svc.SetBAA(ctx, admin, gateway.BAAChange{PartyID: receiver.ID, State: gateway.BAAActive, Start: now, End: now.AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := store.StartWorkers(ctx, svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = store.StopWorkers(sctx)
		store.Close()
	})
	return svc, store
}

func submit(t *testing.T, svc *gateway.Service, receiverID string) *gateway.Referral {
	t.Helper()
	r, err := svc.CreateReferral(context.Background(), gateway.Actor{ID: "client:ehr-north", OrgID: "org-north"}, gateway.NewReferral{
		Requester: gateway.Requester{OrgID: "org-north"}, ReceiverID: receiverID, Patient: gateway.Patient{ID: "MRN-9"},
		Reason: gateway.Coding{Code: "239873007", System: "http://snomed.info/sct"}, Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Records: []gateway.NewRecord{{Title: "Letter", ContentType: "text/plain", Content: []byte("Synthetic letter.")}}, Submit: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitDelivery polls until the referral's first delivery reaches state.
func waitDelivery(t *testing.T, svc *gateway.Service, id string, state gateway.DeliveryState) (*gateway.Referral, *gateway.Delivery) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, ds, err := svc.Referral(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 && ds[0].State == state {
			return r, ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery never reached %s: %+v", state, ds)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for work
	}
}

func TestServicePushesThroughTheQueue(t *testing.T) {
	rc := newReceiver(t)
	svc := newService(t, rc.channel(), rc.entry())
	r := submit(t, svc, "org-ortho")
	got, d := waitDelivery(t, svc, r.ID, gateway.DeliveryDelivered)
	if d.RemoteID != "task-1" || got.Status != gateway.StatusReceived {
		t.Errorf("delivery remote %q, referral %s; want task-1 and received", d.RemoteID, got.Status)
	}
}

func TestServicePullModeReceiptIsTheReceiversFirstMove(t *testing.T) {
	to := &gateway.Entry{ID: "org-pull", Kind: gateway.KindOrganization, Name: "Pull Clinic (synthetic)", OnPlatform: true, FHIR: &gateway.FHIREndpoint{}}
	svc := newService(t, New(Config{}), to)
	r := submit(t, svc, to.ID)
	waitDelivery(t, svc, r.ID, gateway.DeliverySent)
	if _, err := svc.Transition(context.Background(), gateway.Actor{ID: "client:ehr-pull", OrgID: to.ID}, r.ID, gateway.StatusAccepted, gateway.TransitionInput{}); err != nil {
		t.Fatal(err)
	}
	got, _ := waitDelivery(t, svc, r.ID, gateway.DeliveryDelivered)
	if got.Status != gateway.StatusAccepted {
		t.Errorf("referral %s, want accepted", got.Status)
	}
}

func TestSyncFollowsTheReceiversTask(t *testing.T) {
	rc := newReceiver(t)
	ch := rc.channel()
	svc := newService(t, ch, rc.entry())
	r := submit(t, svc, "org-ortho")
	_, d := waitDelivery(t, svc, r.ID, gateway.DeliveryDelivered)
	ctx := context.Background()

	steps := []struct {
		name string
		edit func(map[string]any)
		want gateway.Status
		err  bool
	}{
		{"unchanged", func(map[string]any) {}, gateway.StatusReceived, false},
		{"accepted", func(m map[string]any) { m["status"] = "accepted" }, gateway.StatusAccepted, false},
		{"skipping in-progress is refused", func(m map[string]any) {
			m["status"] = "completed"
			m["output"] = []any{map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": "urn:referralgw:task-parameter", "code": "consult-note"}}},
				"valueReference": map[string]any{"reference": "DocumentReference/consult-9"}}}
		}, gateway.StatusAccepted, true},
		{"in progress", func(m map[string]any) { m["status"] = "in-progress"; delete(m, "output") }, gateway.StatusInProgress, false},
		{"completed with the consult note", func(m map[string]any) {
			m["status"] = "completed"
			m["output"] = []any{map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": "urn:referralgw:task-parameter", "code": "consult-note"}}},
				"valueReference": map[string]any{"reference": "DocumentReference/consult-9"}}}
		}, gateway.StatusCompleted, false},
	}
	for _, s := range steps {
		rc.edit(d.RemoteID, s.edit)
		_, err := ch.Sync(ctx, svc, r.ID)
		if (err != nil) != s.err {
			t.Fatalf("%s: Sync err = %v, want error %v", s.name, err, s.err)
		}
		got, _, err := svc.Referral(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != s.want {
			t.Fatalf("%s: referral %s, want %s", s.name, got.Status, s.want)
		}
	}
	got, _, _ := svc.Referral(ctx, r.ID)
	if got.Outcome == nil || got.Outcome.Reference != "DocumentReference/consult-9" {
		t.Errorf("outcome %+v", got.Outcome)
	}
}

func TestSyncAllCountsChangedReferrals(t *testing.T) {
	rc := newReceiver(t)
	ch := rc.channel()
	svc := newService(t, ch, rc.entry())
	var remote []string
	for range 3 {
		r := submit(t, svc, "org-ortho")
		_, d := waitDelivery(t, svc, r.ID, gateway.DeliveryDelivered)
		remote = append(remote, d.RemoteID)
	}
	rc.edit(remote[0], func(m map[string]any) { m["status"] = "accepted" })
	rc.edit(remote[2], func(m map[string]any) {
		m["status"] = "rejected"
		m["statusReason"] = map[string]any{"text": "not our specialty"}
	})
	n, err := ch.SyncAll(context.Background(), svc)
	if err != nil || n != 2 {
		t.Errorf("SyncAll = %d, %v; want 2 changed", n, err)
	}
	n, err = ch.SyncAll(context.Background(), svc)
	if err != nil || n != 0 {
		t.Errorf("second SyncAll = %d, %v; want nothing left to change", n, err)
	}
}
