package push

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/internal/retryafter"
)

func seconds(n int) func(time.Time) string {
	return func(time.Time) string { return strconv.Itoa(n) }
}

func dateIn(d time.Duration) func(time.Time) string {
	return func(now time.Time) string { return now.Add(d).UTC().Format(http.TimeFormat) }
}

// TestPushCarriesRetryAfter: a receiver's 429 or 503 with Retry-After, in
// either form, comes back as a temporary failure that carries the wait;
// a value that is not one is ignored, and so is the field on other answers.
func TestPushCarriesRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		answer     int
		retryAfter func(time.Time) string
		want       time.Duration
	}{
		{"429 with delay-seconds", http.StatusTooManyRequests, seconds(120), 120 * time.Second},
		{"503 with an HTTP-date", http.StatusServiceUnavailable, dateIn(10 * time.Minute), 10 * time.Minute},
		{"a day is capped", http.StatusTooManyRequests, seconds(86400), retryafter.Max},
		{"garbage is ignored", http.StatusTooManyRequests, func(time.Time) string { return "in a while" }, 0},
		{"negative is ignored", http.StatusServiceUnavailable, func(time.Time) string { return "-30" }, 0},
		{"a 500 does not throttle", http.StatusInternalServerError, seconds(120), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.answer, rc.retryAfter = tt.answer, tt.retryAfter
			_, err := rc.channel().Send(context.Background(), outbound(rc.entry(), "dlv-1"))
			if err == nil || gateway.IsPermanent(err) {
				t.Fatalf("err = %v, want a temporary failure", err)
			}
			if got := gateway.RetryDelay(err); got != tt.want {
				t.Errorf("retry delay %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
	t.Run("a throttling token endpoint", func(t *testing.T) {
		for _, tc := range []struct {
			status int
			want   time.Duration
		}{{http.StatusTooManyRequests, 120 * time.Second}, {http.StatusServiceUnavailable, 120 * time.Second}, {http.StatusRequestTimeout, 0}} {
			tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"slow down"}`))
			}))
			rc := newReceiver(t)
			to := rc.entry()
			to.FHIR.TokenURL = tokens.URL
			_, err := rc.channel().Send(context.Background(), outbound(to, "dlv-1"))
			tokens.Close()
			if err == nil || gateway.IsPermanent(err) || gateway.RetryDelay(err) != tc.want {
				t.Errorf("token endpoint answering %d with Retry-After: 120: err = %v (delay %v), want temporary, delay %v",
					tc.status, err, gateway.RetryDelay(err), tc.want)
			}
		}
	})
}

// TestServiceWaitsForRetryAfter: through the queue, a receiver answering
// 429 with Retry-After gets its next push no sooner than it asked (the
// job is scheduled that long after the failed run started; the queue's
// own backoff here is 10 ms), in both forms; a garbage value leaves the
// queue's backoff, and the push is simply retried.
func TestServiceWaitsForRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter func(time.Time) string
		want       time.Duration
	}{
		{"delay-seconds", seconds(120), 120 * time.Second},
		{"HTTP-date", dateIn(10 * time.Minute), 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.answer, rc.retryAfter = http.StatusTooManyRequests, tc.retryAfter
			svc, store := newServiceStore(t, rc.channel(), rc.entry(), nil)
			r := submit(t, svc, "org-ortho")
			d := firstDelivery(t, svc, r.ID)
			state, wait := deliverJob(t, store, d)
			for deadline := time.Now().Add(15 * time.Second); state != "retryable"; state, wait = deliverJob(t, store, d) {
				if time.Now().After(deadline) {
					t.Fatalf("deliver job %s, never waiting for its retry", state)
				}
				time.Sleep(10 * time.Millisecond) // polling interval, not a wait for work
			}
			if wait < tc.want {
				t.Errorf("next push scheduled %v after the throttled one, want at least %v", wait, tc.want)
			}
			if n := rc.pushes(); n != 1 {
				t.Errorf("%d pushes, want 1 until the wait is over", n)
			}
			if _, ds, err := svc.Referral(context.Background(), r.ID); err != nil || ds[0].Attempts != 1 || ds[0].State != gateway.DeliveryQueued {
				t.Errorf("delivery %+v (%v), want queued after one counted attempt", ds[0], err)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		rc := newReceiver(t)
		rc.answer, rc.retryAfter = http.StatusTooManyRequests, func(time.Time) string { return "whenever" }
		svc, _ := newServiceStore(t, rc.channel(), rc.entry(), nil)
		submit(t, svc, "org-ortho")
		for deadline := time.Now().Add(15 * time.Second); rc.pushes() < 2; {
			if time.Now().After(deadline) {
				t.Fatalf("%d push(es): the queue's backoff did not retry", rc.pushes())
			}
			time.Sleep(10 * time.Millisecond) // polling interval, not a wait for work
		}
	})
}

func (rc *receiver) pushes() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.posts
}

func firstDelivery(t *testing.T, svc *gateway.Service, referralID string) string {
	t.Helper()
	_, ds, err := svc.Referral(context.Background(), referralID)
	if err != nil || len(ds) == 0 {
		t.Fatalf("deliveries %v, %v", ds, err)
	}
	return ds[0].ID
}

// deliverJob reads the delivery's job: its state, and how long after the
// start of its last run it is scheduled to run again.
func deliverJob(t *testing.T, store *sqlstore.Store, deliveryID string) (state string, wait time.Duration) {
	t.Helper()
	ctx := context.Background()
	tx, err := store.Backend().Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	d := store.Backend().Dialect()
	var secs float64
	q := `SELECT state, (julianday(scheduled_at) - julianday(coalesce(attempted_at, scheduled_at))) * 86400.0 FROM river_job WHERE kind = 'deliver' AND args->>'delivery_id' = $1`
	if err := tx.QueryRow(ctx, d.Rebind(q), d.Args([]any{deliveryID})...).Scan(&state, &secs); err != nil {
		t.Fatal(err)
	}
	return state, time.Duration(secs * float64(time.Second))
}
