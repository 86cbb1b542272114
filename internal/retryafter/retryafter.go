package retryafter

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max is the longest wait the gateway honours. A server that asks for
// more (a day, a date next month) is waited for Max, then asked again:
// the queue's attempt limit, not the server, decides when a delivery
// gives up, and a misconfigured or hostile server cannot park one for
// days.
const Max = time.Hour

// Parse reads a Retry-After value: delay-seconds (a run of ASCII digits)
// or an HTTP-date in any of the three forms RFC 9110 §5.6.7 requires a
// recipient to accept, taken relative to now. ok is false for anything
// else (a sign, a fraction, a word, an empty value), which the caller
// ignores. A date already past is a zero delay; a delay above Max, or a
// number too large to represent, is Max.
func Parse(value string, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(value)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if errors.Is(err, strconv.ErrRange) || n > uint64(Max/time.Second) {
			return Max, true
		}
		if err != nil {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = at.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > Max:
		return Max, true
	}
	return d, true
}

// FromResponse is the wait a 429 or 503 answer asks for with its
// Retry-After field, or zero: for any other status, without the field, or
// with a value Parse refuses. An HTTP-date is taken relative to the
// answer's own Date field when it has a valid one (the server's clock on
// both sides, so a skewed local clock does not shorten the wait), else
// relative to now.
func FromResponse(res *http.Response, now time.Time) time.Duration {
	if res == nil || (res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusServiceUnavailable) {
		return 0
	}
	v := res.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if date, err := http.ParseTime(res.Header.Get("Date")); err == nil {
		now = date
	}
	d, _ := Parse(v, now)
	return d
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
