package storetest

import (
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// BenchSequencer measures the audit sequencer: each iteration commits 500
// events (half of them for two practices, like a referral's) in one
// transaction, then sequences them into chains and trees. It reports
// entries/s: chain entries written per second of sequencing alone.
func BenchSequencer(b *testing.B, store gateway.Store) {
	st := store.(*sqlstore.Store)
	ctx := b.Context()
	const events = 500
	var entries int
	var sequencing time.Duration
	for i := 0; b.Loop(); i++ {
		err := st.Update(ctx, func(tx gateway.Tx) error {
			for j := range events {
				tenants := []string{"clinic-a"}
				if j%2 == 0 {
					tenants = append(tenants, "cardio-b")
				}
				if err := tx.Audit(ctx, audit.Event{Time: time.Now(), Actor: "system", Tenants: tenants,
					Action: "bench.event", Outcome: audit.OutcomeSuccess, Detail: map[string]string{"i": "x"}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		n, held, err := st.SequenceAudit(ctx)
		sequencing += time.Since(start)
		if err != nil || !held || n != events {
			b.Fatalf("sequenced %d of %d (held %v): %v", n, events, held, err)
		}
		entries += events + events/2
	}
	b.ReportMetric(float64(entries)/sequencing.Seconds(), "entries/s")
}
