package pgstore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestTwoGatewaysShareOneDatabase runs two gateways (two stores, two
// services, two worker pools) on one PostgreSQL schema, as two `gateway
// serve` processes would: every referral is delivered exactly once, and
// the shared trail stays intact.
func TestTwoGatewaysShareOneDatabase(t *testing.T) {
	ctx := t.Context()
	first, url := openFreshURL(t, storetest.FastQueue())
	second, err := pgstore.Open(ctx, url, storetest.FastQueue()) // the same schema
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })

	key := make([]byte, 32)
	rand.Read(key)
	sealer, _ := gateway.NewSealer(key)
	receiver := storetest.NewRecordingChannel(gateway.ChannelFHIR, storetest.Behavior{}) // one receiver shared by both
	var svcs []*gateway.Service
	for _, s := range []gateway.Store{first, second} {
		svc := gateway.NewService(s, sealer, nil, gateway.DefaultConfig(), nil, receiver)
		svcs = append(svcs, svc)
		if err := s.StartWorkers(ctx, svc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.StopWorkers(c)
		})
	}
	admin := gateway.Actor{ID: "user:admin"}
	for _, e := range []*gateway.Entry{
		{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic"},
		{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology", OnPlatform: true, FHIR: &gateway.FHIREndpoint{}},
	} {
		if _, err := svcs[0].PutEntry(ctx, admin, e); err != nil {
			t.Fatal(err)
		}
	}
	svcs[0].VerifyEntry(ctx, admin, "cardio-b", "test")
	if _, err := svcs[0].SetBAA(ctx, admin, gateway.BAAChange{PartyID: "cardio-b", State: gateway.BAAActive, End: time.Now().AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var ids []string
	for i := 0; i < n; i++ {
		r, err := svcs[i%2].CreateReferral(ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, gateway.NewReferral{
			Requester: gateway.Requester{OrgID: "clinic-a"}, ReceiverID: "cardio-b", Patient: gateway.Patient{ID: "MRN-1"},
			Reason: gateway.Coding{Code: "49436004"}, Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment}, Submit: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := 0
		for _, id := range ids {
			r, _, err := svcs[0].Referral(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == gateway.StatusReceived {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d received", done, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := receiver.Received(); got != n {
		t.Fatalf("receiver got %d distinct deliveries, want %d", got, n)
	}
	for _, id := range ids {
		_, ds, _ := svcs[1].Referral(ctx, id)
		if len(ds) != 1 || receiver.Attempts(ds[0].ID) != 1 {
			t.Fatalf("referral %s: %d deliveries, %d sends", id, len(ds), receiver.Attempts(ds[0].ID))
		}
	}
	rep, err := auditVerify(ctx, first)
	if err != nil || !rep {
		t.Fatalf("trail after two writers: %v %v", rep, err)
	}
}
