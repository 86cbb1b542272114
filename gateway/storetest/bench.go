package storetest

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// BenchCreateAndQueue creates and submits referrals in parallel: each is
// one transaction holding the referral, its sealed record, its audit
// entries in both practices' chains, the delivery and its River job.
func BenchCreateAndQueue(b *testing.B, store gateway.Store) {
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	sealer, _ := gateway.NewSealer(key)
	clock := NewManualClock(time.Now())
	svc := gateway.NewService(store, sealer, clock, gateway.DefaultConfig(), nil,
		NewRecordingChannel(gateway.ChannelFHIR, Behavior{}))
	admin := gateway.Actor{ID: "user:admin"}
	for _, e := range []*gateway.Entry{
		{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic"},
		{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology", OnPlatform: true, FHIR: &gateway.FHIREndpoint{}},
	} {
		if _, err := svc.PutEntry(ctx, admin, e); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := svc.VerifyEntry(ctx, admin, "cardio-b", "bench"); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.SetBAA(ctx, admin, gateway.BAAChange{PartyID: "cardio-b", State: gateway.BAAActive, End: clock.Now().AddDate(1, 0, 0)}); err != nil {
		b.Fatal(err)
	}
	n := referral()
	n.ReceiverID = "cardio-b"
	actor := gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}
	// Eight goroutines per core, as many HTTP requests would be in flight.
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := svc.CreateReferral(ctx, actor, n)
			if err != nil || r.Status != gateway.StatusRequested {
				b.Errorf("create: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "referrals/s")
}
