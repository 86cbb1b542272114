package channel_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/internal/retryafter"
)

// TestThrottledVendorSaysWhen: a vendor reply of 429 or 503 with
// Retry-After reaches the core as a temporary failure carrying the wait
// (for a send, the queue schedules the next attempt no sooner), from a
// send and from a status poll alike; a value that is not a delay, or the
// field on another reply, carries none.
func TestThrottledVendorSaysWhen(t *testing.T) {
	at := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
	}{
		{"429 with delay-seconds", http.StatusTooManyRequests, map[string]string{"Retry-After": "120"}, 120 * time.Second},
		{"503 with an HTTP-date", http.StatusServiceUnavailable,
			map[string]string{"Date": at.Format(http.TimeFormat), "Retry-After": at.Add(10 * time.Minute).Format(http.TimeFormat)}, 10 * time.Minute},
		{"a week is capped", http.StatusTooManyRequests, map[string]string{"Retry-After": "604800"}, retryafter.Max},
		{"garbage", http.StatusTooManyRequests, map[string]string{"Retry-After": "later please"}, 0},
		{"a 500 does not throttle", http.StatusInternalServerError, map[string]string{"Retry-After": "120"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(`{"success":false,"message":"slow down"}`))
			}))
			t.Cleanup(srv.Close)
			ch := newChannel(t, srv.URL, "https://gw.example/fax/callback")
			_, err := ch.Send(t.Context(), outbound(t, "del-1", false, false))
			if err == nil || gateway.IsPermanent(err) {
				t.Fatalf("Send = %v, want a temporary failure", err)
			}
			if got := gateway.RetryDelay(err); got != c.want {
				t.Errorf("send: retry delay %v, want %v (%v)", got, c.want, err)
			}
			_, err = ch.PollReceipt(t.Context(), &gateway.Delivery{ID: "del-1", RemoteID: "1001"})
			if err == nil || gateway.IsPermanent(err) {
				t.Fatalf("PollReceipt = %v, want a temporary failure", err)
			}
			if got := gateway.RetryDelay(err); got != c.want {
				t.Errorf("poll: retry delay %v, want %v (%v)", got, c.want, err)
			}
		})
	}
}
