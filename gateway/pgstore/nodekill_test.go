package pgstore_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// freezingChannel is the channel of a node about to die: each send reaches
// the receiver (or not, every other one) and then never returns, like a
// process stopped in the middle of its work.
type freezingChannel struct {
	*storetest.RecordingChannel
	mu      sync.Mutex
	n       int
	arrived chan struct{}
	release chan struct{}
}

func (c *freezingChannel) Send(ctx context.Context, out *gateway.Outbound) (gateway.SendResult, error) {
	c.mu.Lock()
	c.n++
	reach := c.n%2 == 0
	c.mu.Unlock()
	if reach { // killed after the receiver took the message, before we recorded it
		_, _ = c.RecordingChannel.Send(context.WithoutCancel(ctx), out)
	}
	c.arrived <- struct{}{}
	<-c.release
	return gateway.SendResult{}, context.Canceled
}

// TestKilledNodeLosesNothing runs three gateways on one PostgreSQL schema
// and kills one mid-load: its sends freeze (some after the receiver took
// the message), its connections are closed, its heartbeats stop. The
// others rescue its jobs: every referral is received exactly once as the
// receiver sees it, recorded delivered once, and the trail stays intact.
func TestKilledNodeLosesNothing(t *testing.T) {
	ctx := t.Context()
	q := storetest.FastQueue()
	first, url := openFreshURL(t, q)
	stores := []*sqlstore.Store{first}
	for range 2 {
		s, err := pgstore.Open(ctx, url, q) // the same schema
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	for _, s := range stores[:2] {
		t.Cleanup(func() { s.Close() })
	}
	key := make([]byte, 32)
	rand.Read(key)
	sealer, _ := gateway.NewSealer(key)
	receiver := storetest.NewRecordingChannel(gateway.ChannelFHIR, storetest.Behavior{}) // what the receiver saw
	victim := &freezingChannel{RecordingChannel: receiver, arrived: make(chan struct{}, 64), release: make(chan struct{})}
	t.Cleanup(func() { close(victim.release) })
	var svcs []*gateway.Service
	for i, s := range stores {
		var ch gateway.Channel = receiver
		if i == 2 {
			ch = victim
		}
		svcs = append(svcs, gateway.NewService(s, sealer, nil, gateway.DefaultConfig(), nil, ch))
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
	if _, err := svcs[0].VerifyEntry(ctx, admin, "cardio-b", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs[0].SetBAA(ctx, admin, gateway.BAAChange{PartyID: "cardio-b", State: gateway.BAAActive, End: time.Now().AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	// The victim works alone at first, so that it surely takes jobs (and
	// the leadership, whose loss the survivors must also ride out); the
	// survivors start once it is in the middle of three sends, just before
	// it dies.
	if err := stores[2].StartWorkers(ctx, svcs[2]); err != nil {
		t.Fatal(err)
	}
	startSurvivors := func() {
		for i := range 2 {
			if err := stores[i].StartWorkers(ctx, svcs[i]); err != nil {
				t.Fatal(err)
			}
			s := stores[i]
			t.Cleanup(func() {
				c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = s.StopWorkers(c)
			})
		}
	}
	const n = 60
	var ids []string
	for i := range n {
		r, err := svcs[i%2].CreateReferral(ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, gateway.NewReferral{
			Requester: gateway.Requester{OrgID: "clinic-a"}, ReceiverID: "cardio-b", Patient: gateway.Patient{ID: "MRN-1"},
			Reason: gateway.Coding{Code: "49436004"}, Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment}, Submit: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		if i == 10 {
			// Kill the victim once it is in the middle of three sends.
			for range 3 {
				select {
				case <-victim.arrived:
				case <-time.After(30 * time.Second):
					t.Fatal("the victim node took no jobs")
				}
			}
			startSurvivors()
			go stores[2].Close() // blocks on its frozen work; new queries fail at once
		}
	}
	deadline := time.Now().Add(90 * time.Second)
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
			t.Fatalf("%d of %d received after the kill", done, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := receiver.Received(); got != n {
		t.Fatalf("receiver got %d distinct deliveries, want %d", got, n)
	}
	for _, id := range ids {
		_, ds, err := svcs[1].Referral(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].State != gateway.DeliveryDelivered {
			t.Fatalf("referral %s: %d deliveries, first %s", id, len(ds), ds[0].State)
		}
	}
	delivered := map[string]int{}
	for e, err := range first.AuditEntries(gateway.GatewayWide(ctx, gateway.PathAudit), gateway.AuditQuery{Tenant: "clinic-a"}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Action == "delivery.delivered" {
			delivered[e.ReferralID]++
		}
	}
	for _, id := range ids {
		if delivered[id] != 1 {
			t.Fatalf("referral %s: delivery.delivered recorded %d times", id, delivered[id])
		}
	}
	rep, err := auditVerify(ctx, first)
	if err != nil || !rep {
		t.Fatalf("trail after the kill: %v %v", rep, err)
	}
}
