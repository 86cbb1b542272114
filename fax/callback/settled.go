package callback

import (
	"sync"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// A signed callback that anyone may send again (a captured callback
// replayed by a script, or the vendor retrying one whose answer it lost)
// changes nothing the second time, yet finding its delivery and referral
// cost reads of the database on every post. The handler remembers for a
// while what the first post of each callback settled into, keyed by its
// signature (which only the vendor can make), and answers repeats from
// memory: same status, same aggregated edge record, no database reads.
// Only outcomes that cannot change are remembered: a callback applied or
// replayed (its replay key is stored, so every later post is a replay) and
// a progress report. A 404 is not (the send may be recorded a moment
// later), nor a refusal in the delivery's state or a failure.
const (
	settledFor = 10 * time.Minute
	settledMax = 10_000
)

// settledCallback is what a repeat of a callback is answered with.
type settledCallback struct {
	code    int
	ev      gateway.EdgeEvent // recorded again for each repeat, with the fax id as its text
	expires time.Time
}

// settledCallbacks is the bounded memory of settled callbacks.
type settledCallbacks struct {
	mu sync.Mutex
	by map[string]settledCallback
}

func (s *settledCallbacks) get(sig string, now time.Time) (settledCallback, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.by[sig]
	if !ok || !now.Before(c.expires) {
		return settledCallback{}, false
	}
	return c, true
}

// put remembers c under sig. A full table first forgets what has
// expired, and starts afresh if that frees nothing: a repeat then costs
// the reads once more, nothing else.
func (s *settledCallbacks) put(sig string, c settledCallback, now time.Time) {
	if sig == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[string]settledCallback{}
	}
	if _, ok := s.by[sig]; !ok && len(s.by) >= settledMax {
		for k, v := range s.by {
			if !now.Before(v.expires) {
				delete(s.by, k)
			}
		}
		if len(s.by) >= settledMax {
			s.by = map[string]settledCallback{}
		}
	}
	c.expires = now.Add(settledFor)
	s.by[sig] = c
}
