package pgstore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/storetest"
)

// BenchmarkPracticeReport1M measures one practice report over a million
// referrals of that practice on PostgreSQL (the figure docs/BENCHMARKS.md
// quotes). The rows are written straight into the schema with
// generate_series: a spread of channels, states, answer and closure times,
// declines, requests for information, Part 2 referrals and refusals.
func BenchmarkPracticeReport1M(b *testing.B) {
	store, url := openFreshURL(b, storetest.FastQueue())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 1_000_000
	_, err = conn.Exec(ctx, `INSERT INTO referrals (id, requester_org, receiver_id, receiver_org, patient_id, status, version,
		created_at, updated_at, doc, intra, part2, delivered_via, received_at, answered_at, closed_at, declined, rerouted,
		info_requests, refusals)
		SELECT 'bench-' || g, 'clinic-a', 'dr-heart', CASE WHEN g % 10 = 0 THEN 'clinic-a' ELSE 'cardio-b' END, 'MRN-' || g,
			(ARRAY['requested','received','accepted','completed','rejected','on-hold'])[1 + g % 6], 1,
			$1::timestamptz + g * interval '20 seconds', $1::timestamptz + g * interval '20 seconds', '{}',
			g % 10 = 0, g % 50 = 0, (ARRAY['fhir','direct','fax', NULL])[1 + g % 4],
			CASE WHEN g % 4 <> 3 THEN $1::timestamptz + g * interval '20 seconds' + (g % 600) * interval '1 second' END,
			CASE WHEN g % 6 IN (2, 3, 4) THEN $1::timestamptz + g * interval '20 seconds' + (g % 72) * interval '1 hour' END,
			CASE WHEN g % 6 = 3 THEN $1::timestamptz + g * interval '20 seconds' + (g % 30) * interval '1 day' END,
			g % 6 = 4, g % 97 = 0, CASE WHEN g % 6 = 5 THEN 1 ELSE 0 END,
			CASE WHEN g % 41 = 0 THEN 'consent' WHEN g % 43 = 0 THEN 'baa,routing' END
		FROM generate_series(1, $2::int) g`, t0, n)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE referrals`); err != nil {
		b.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	sealer, _ := gateway.NewSealer(key)
	svc := gateway.NewService(store, sealer, nil, gateway.DefaultConfig(), nil)
	q := gateway.ReportQuery{Practice: "clinic-a", From: t0, To: t0.Add(n * 20 * time.Second).Add(time.Hour), Now: t0.AddDate(1, 0, 0)}
	b.ResetTimer()
	for b.Loop() {
		rep, err := svc.PracticeReport(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if rep.ReferralsOut != n {
			b.Fatalf("report counted %d referrals, want %d", rep.ReferralsOut, n)
		}
	}
}
