package callback

import (
	"strconv"
	"sync"
	"time"

	"github.com/referralgw/gateway/internal/peer"
	"golang.org/x/time/rate"
)

// Defaults of the failure limit (Config.FailuresPerMinute, FailureBurst).
const (
	DefaultFailuresPerMinute = 30
	DefaultFailureBurst      = 20
	// failureKeysMax bounds the addresses remembered; beyond it the table
	// starts afresh.
	failureKeysMax = 10_000
)

// failureLimit counts callbacks that failed verification per client
// address (per /64 for IPv6, see peer.Key). An address out of allowance is answered 429 before its body is
// read, its signature computed or anything is written; the vendor, whose
// callbacks verify, never spends any.
type failureLimit struct {
	every rate.Limit
	burst int
	mu    sync.Mutex
	by    map[string]*rate.Limiter
}

func newFailureLimit(perMinute, burst int) *failureLimit {
	return &failureLimit{every: rate.Limit(float64(perMinute) / 60), burst: burst, by: map[string]*rate.Limiter{}}
}

// wait reports how long addr must wait before it is heard again, or 0.
func (l *failureLimit) wait(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.by[peer.Key(addr)]
	if lim == nil || lim.TokensAt(now) >= 1 {
		return 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return max(d, time.Second)
}

// failed spends one of addr's allowance.
func (l *failureLimit) failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := peer.Key(addr)
	lim := l.by[key]
	if lim == nil {
		if len(l.by) >= failureKeysMax {
			clear(l.by)
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.by[key] = lim
	}
	lim.AllowN(now, 1)
}

// retryAfter formats a wait as whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
