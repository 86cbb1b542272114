package storetest

import (
	"crypto/rand"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// testSealingThroughWrappers: with metrics on, the service writes through
// its own wrappers around the store's transactions; the store still gets
// the service's keys, stores the data keys the service seals records with,
// and loads them for a gateway process that starts later.
func testSealingThroughWrappers(t *testing.T, h Harness) {
	store := h.Open(t)
	kek, index := make([]byte, 32), make([]byte, 32)
	rand.Read(kek)
	rand.Read(index)
	keys := func() *gateway.Sealer {
		k, err := gateway.NewKeyring(kek, nil, index)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	e := newEnvWith(t, store, keys(), Behavior{}, Behavior{})
	cfg := gateway.DefaultConfig()
	cfg.Metrics = &RecordingMetrics{}
	// A second process: its own keys object, metrics on.
	e.svc = gateway.NewService(store, keys(), e.clock, cfg, nil, e.fhir, e.direct)
	// A third process: the store now seals its own rows with this one's
	// keys, so the second process's record key reaches the store only
	// through its own (wrapped) transaction.
	later := gateway.NewService(store, keys(), e.clock, cfg, nil, e.fhir, e.direct)
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })

	// The third process reads the record through its own keys: the data
	// key must be in the store and load through the wrappers.
	got, _, err := later.Referral(gateway.WithPractice(e.ctx, "clinic-a"), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := later.RecordContents(gateway.WithPractice(e.ctx, "clinic-a"), got)
	if err != nil || len(recs) != 1 || string(recs[0].Content) != "Sinus rhythm with episodes of AF." {
		t.Fatalf("record read by a later process: %v", err)
	}
}
