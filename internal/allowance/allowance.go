// Package allowance keeps, per client key (see internal/peer), an
// allowance of failures that refills over time: the shared mechanism of
// the edges that slow down whoever fails (bad fax callbacks, failed token
// requests, refused SMTP recipients) while leaving everyone else alone.
package allowance

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a failure allowance per key: burst failures at once, refilled
// at every (failures a second). It remembers at most maxKeys keys: when a
// new key finds the table full, the keys whose allowance is whole again
// are forgotten (they would start afresh anyway), and if that frees
// nothing the table starts afresh, so a flood of new keys costs one pass
// per maxKeys of them. The zero value is not usable; call New.
type Limit struct {
	every   rate.Limit
	burst   int
	maxKeys int

	mu sync.Mutex
	by map[string]*rate.Limiter
}

// New returns a Limit of burst failures refilled at every per second,
// remembering at most maxKeys keys.
func New(every rate.Limit, burst, maxKeys int) *Limit {
	return &Limit{every: every, burst: burst, maxKeys: maxKeys, by: map[string]*rate.Limiter{}}
}

// Wait reports how long key must wait before it may fail again: zero
// while it has allowance left, otherwise at least a second (a
// Retry-After of whole seconds).
func (l *Limit) Wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.by[key]
	if lim == nil || lim.TokensAt(now) >= 1 {
		return 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return max(d, time.Second)
}

// Spend takes one failure from key's allowance.
func (l *Limit) Spend(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.by[key]
	if lim == nil {
		if len(l.by) >= l.maxKeys {
			l.pruneLocked(now)
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.by[key] = lim
	}
	lim.AllowN(now, 1)
}

func (l *Limit) pruneLocked(now time.Time) {
	for k, lim := range l.by {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.by, k)
		}
	}
	if len(l.by) >= l.maxKeys {
		clear(l.by)
	}
}
