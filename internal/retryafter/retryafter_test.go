package retryafter

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  time.Duration
		ok    bool
	}{
		{"delay-seconds", "120", 120 * time.Second, true},
		{"zero", "0", 0, true},
		{"surrounding whitespace", " 7 ", 7 * time.Second, true},
		{"leading zeros", "0030", 30 * time.Second, true},
		{"at the ceiling", "3600", Max, true},
		{"above the ceiling", "86400", Max, true},
		{"too large for any integer", "99999999999999999999999999", Max, true},
		{"IMF-fixdate", "Mon, 07 Dec 2026 04:02:00 GMT", 2 * time.Minute, true},
		{"RFC 850 date", "Monday, 07-Dec-26 04:00:45 GMT", 45 * time.Second, true},
		{"asctime date", "Mon Dec  7 04:01:00 2026", time.Minute, true},
		{"date in the past", "Mon, 07 Dec 2026 03:00:00 GMT", 0, true},
		{"date far ahead", "Tue, 08 Dec 2026 04:00:00 GMT", Max, true},
		{"negative", "-5", 0, false},
		{"plus sign", "+5", 0, false},
		{"fraction", "1.5", 0, false},
		{"unit", "120s", 0, false},
		{"word", "soon", 0, false},
		{"empty", "", 0, false},
		{"two numbers", "1 2", 0, false},
		{"date with a zone other than GMT", "Mon, 07 Dec 2026 04:02:00 +0100", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := Parse(tt.value, now)
			if d != tt.want || ok != tt.ok {
				t.Errorf("Parse(%q) = %v, %v; want %v, %v", tt.value, d, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFromResponse(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
	}{
		{"429 with seconds", http.StatusTooManyRequests, map[string]string{"Retry-After": "120"}, 120 * time.Second},
		{"503 with seconds", http.StatusServiceUnavailable, map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{"date relative to the answer's own Date", http.StatusServiceUnavailable,
			map[string]string{"Date": "Mon, 07 Dec 2026 03:00:00 GMT", "Retry-After": "Mon, 07 Dec 2026 03:05:00 GMT"}, 5 * time.Minute},
		{"date relative to now without a Date", http.StatusTooManyRequests,
			map[string]string{"Retry-After": "Mon, 07 Dec 2026 04:05:00 GMT"}, 5 * time.Minute},
		{"unreadable Date falls back to now", http.StatusTooManyRequests,
			map[string]string{"Date": "yesterday", "Retry-After": "Mon, 07 Dec 2026 04:05:00 GMT"}, 5 * time.Minute},
		{"garbage", http.StatusTooManyRequests, map[string]string{"Retry-After": "later"}, 0},
		{"no field", http.StatusTooManyRequests, nil, 0},
		{"other status", http.StatusInternalServerError, map[string]string{"Retry-After": "120"}, 0},
		{"a redirect's field is not a throttle", http.StatusMovedPermanently, map[string]string{"Retry-After": "120"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			for k, v := range tt.header {
				rec.Header().Set(k, v)
			}
			rec.WriteHeader(tt.status)
			if got := FromResponse(rec.Result(), now); got != tt.want {
				t.Errorf("FromResponse = %v, want %v", got, tt.want)
			}
		})
	}
	if got := FromResponse(nil, now); got != 0 {
		t.Errorf("FromResponse(nil) = %v", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "Mon, 07 Dec 2026 04:02:00 GMT", "Monday, 07-Dec-26 04:00:45 GMT", "Mon Dec  7 04:01:00 2026", "1e9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := Parse(v, now)
		if d < 0 || d > Max || (!ok && d != 0) {
			t.Fatalf("Parse(%q) = %v, %v: out of [0, Max] or a delay without ok", v, d, ok)
		}
	})
}
