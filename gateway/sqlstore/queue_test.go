package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/referralgw/gateway/gateway"
)

type failWith struct{ err error }

func (f failWith) HandleJob(context.Context, gateway.Job, gateway.JobMeta) error { return f.err }

// TestJobRunnerRetryAfter: the next retry River gets from the worker is
// the later of the backoff and the wait a Retry-After asked for, once;
// a plain failure, a last attempt or a snooze leaves River's policy.
func TestJobRunnerRetryAfter(t *testing.T) {
	q := QueueConfig{RetryBase: time.Second, RetryMax: time.Hour}
	throttled := gateway.RetryAfter(errors.New("receiver answered 429"), 2*time.Minute)
	tests := []struct {
		name                 string
		err                  error
		attempt, maxAttempts int
		atLeast              time.Duration // zero: the worker defers to the client policy
	}{
		{"a Retry-After sets the floor", throttled, 1, 5, 2 * time.Minute},
		{"a longer backoff wins", throttled, 14, 20, time.Hour}, // 1 s doubled 13 times, capped at RetryMax
		{"a plain failure leaves the policy", errors.New("timeout"), 1, 5, 0},
		{"the last attempt keeps nothing", throttled, 5, 5, 0},
		{"a snooze is not a retry", &gateway.SnoozeError{Delay: time.Minute}, 1, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newJobRunner(failWith{tt.err}, q)
			row := &rivertype.JobRow{ID: 7, Attempt: tt.attempt, MaxAttempts: tt.maxAttempts}
			before := time.Now()
			_ = r.job(context.Background(), gateway.Job{Kind: gateway.JobDeliver, DeliveryID: "d1"}, row)
			next := r.nextRetry(row)
			if tt.atLeast == 0 {
				if !next.IsZero() {
					t.Fatalf("next retry %v, want the client policy's (zero)", next)
				}
				return
			}
			if next.Before(before.Add(tt.atLeast)) {
				t.Errorf("next retry %v after the run, want at least %v", next.Sub(before), tt.atLeast)
			}
			if again := r.nextRetry(row); !again.IsZero() {
				t.Errorf("the floor was used twice")
			}
		})
	}
}
