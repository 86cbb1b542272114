package smart

import (
	"context"
	"sync"
	"time"
)

// ReplayCache remembers the jti of every accepted client assertion until the
// assertion expires, so that each assertion is used at most once.
type ReplayCache interface {
	// Seen records (clientID, jti) until exp and reports whether the pair
	// was already recorded and has not yet expired.
	Seen(ctx context.Context, clientID, jti string, exp time.Time) (alreadySeen bool, err error)
}

// MemoryReplayCache is an in-process ReplayCache whose entries lapse at
// their expiry by the injected clock. It is safe for concurrent use; a
// gateway with several instances needs a shared, durable implementation.
type MemoryReplayCache struct {
	now func() time.Time

	mu       sync.Mutex
	entries  map[replayKey]time.Time
	earliest time.Time // soonest expiry among entries; zero when empty
}

type replayKey struct{ client, jti string }

// NewMemoryReplayCache returns an empty cache reading time from now
// (time.Now when nil).
func NewMemoryReplayCache(now func() time.Time) *MemoryReplayCache {
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{now: now, entries: make(map[replayKey]time.Time)}
}

// Seen implements ReplayCache. Expired entries are dropped whenever one has
// lapsed, so the map holds at most the assertions of the last few minutes.
func (c *MemoryReplayCache) Seen(_ context.Context, clientID, jti string, exp time.Time) (bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.earliest.IsZero() && !now.Before(c.earliest) {
		c.prune(now)
	}
	key := replayKey{clientID, jti}
	if _, ok := c.entries[key]; ok {
		return true, nil
	}
	c.entries[key] = exp
	if c.earliest.IsZero() || exp.Before(c.earliest) {
		c.earliest = exp
	}
	return false, nil
}

// prune drops entries expired at now and recomputes earliest.
func (c *MemoryReplayCache) prune(now time.Time) {
	c.earliest = time.Time{}
	for k, until := range c.entries {
		switch {
		case !now.Before(until):
			delete(c.entries, k)
		case c.earliest.IsZero() || until.Before(c.earliest):
			c.earliest = until
		}
	}
}

// Len reports how many unexpired entries the cache holds as of its last call.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
