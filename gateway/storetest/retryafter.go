package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// testRetryAfter: a send that fails asking to wait (a receiver's 429 with
// Retry-After: 120) is retried no sooner than that, not on the queue's
// own 10 ms backoff: the deliver job's next run is scheduled at least
// 120 s after the failed run started. The failure still counts: pulling
// the job forward each time, a receiver that always asks to wait gets
// MaxAttempts sends, and the delivery then fails (and falls back).
func testRetryAfter(t *testing.T, h Harness) {
	const asked = 120 * time.Second
	e := newEnv(t, h, Behavior{TempFailures: 1 << 20, RetryAfter: asked}, Behavior{})
	rawExec(t, e.store, `SELECT 1`) // skips a store without the River job table
	e.startWorkers()
	r := e.create(referral())
	d := e.deliveries(r.ID)[0]
	const state = `SELECT CAST(state AS text) FROM river_job WHERE kind = 'deliver' AND args->>'delivery_id' = $1`
	retryable := func() bool { return rawString(t, e.store, state, d.ID) == "retryable" }
	e.waitFor("the first send failed and is waiting", func() bool { return e.fhir.Attempts(d.ID) == 1 && retryable() })

	if wait := jobWait(t, e, d.ID); wait < asked {
		t.Fatalf("next attempt scheduled %v after the failed one started, want at least the %v the receiver asked", wait, asked)
	}
	if n := rawString(t, e.store, `SELECT CAST(attempt AS text) FROM river_job WHERE kind = 'deliver' AND args->>'delivery_id' = $1`, d.ID); n != "1" {
		t.Errorf("job attempt %s after one failed send, want 1: a Retry-After is a counted attempt, not a snooze", n)
	}
	got := e.deliveries(r.ID)[0]
	if got.State != gateway.DeliveryQueued || got.Attempts != 1 {
		t.Errorf("delivery %s after %d attempt(s), want queued after 1", got.State, got.Attempts)
	}
	if detail := retryDetail(t, e, r.ID); detail != asked.String() {
		t.Errorf("delivery.retry names retryAfter %q, want %q", detail, asked)
	}

	// Time passes (the job is made due by hand): every attempt is counted.
	maxAttempts := FastQueue().MaxAttempts
	for i := 2; i <= maxAttempts; i++ {
		if n := rawExec(t, e.store, `UPDATE river_job SET state = 'available', scheduled_at = `+staleStamp(e)+
			` WHERE kind = 'deliver' AND state = 'retryable'`); n != 1 {
			t.Fatalf("attempt %d: %d deliver jobs made due, want 1", i, n)
		}
		if i < maxAttempts {
			e.waitFor("attempt "+strconv.Itoa(i)+" failed and waiting", func() bool { return e.fhir.Attempts(d.ID) == i && retryable() })
			if wait := jobWait(t, e, d.ID); wait < asked {
				t.Fatalf("attempt %d: next one scheduled %v after it, want at least %v", i, wait, asked)
			}
		}
	}
	e.waitFor("the delivery failed after the last attempt", func() bool {
		return e.deliveries(r.ID)[0].State == gateway.DeliveryFailed
	})
	if n := e.fhir.Attempts(d.ID); n != maxAttempts {
		t.Errorf("%d sends to a receiver that always asks to wait, want MaxAttempts (%d)", n, maxAttempts)
	}
}

// jobWait is how long after the start of its last run the delivery's job
// is scheduled to run again, as the database holds both times.
func jobWait(t *testing.T, e *env, deliveryID string) time.Duration {
	t.Helper()
	q := `SELECT CAST(EXTRACT(EPOCH FROM scheduled_at - attempted_at) AS text) FROM river_job WHERE kind = 'deliver' AND args->>'delivery_id' = $1`
	if e.store.(*sqlstore.Store).Backend().Dialect().Name == "sqlite" {
		q = `SELECT CAST((julianday(scheduled_at) - julianday(attempted_at)) * 86400.0 AS text) FROM river_job WHERE kind = 'deliver' AND args->>'delivery_id' = $1`
	}
	s := rawString(t, e.store, q, deliveryID)
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("job wait %q: %v", s, err)
	}
	return time.Duration(secs * float64(time.Second))
}

// retryDetail is the retryAfter the referrer's trail gives for the
// referral's first delivery.retry.
func retryDetail(t *testing.T, e *env, referralID string) string {
	t.Helper()
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: "clinic-a", ReferralID: referralID}) {
		if err != nil {
			t.Fatal(err)
		}
		if en.Action == "delivery.retry" {
			return en.Detail["retryAfter"]
		}
	}
	return ""
}
