package certs

import (
	"sync"
	"time"
)

// TTLCache keeps one answer per key until it expires: discovery outcomes,
// fetched intermediates. A Put drops the answers that have expired, so the
// map does not grow with stale ones. The zero value is ready; it is safe
// for concurrent use.
type TTLCache[V any] struct {
	mu sync.Mutex
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

// Get returns the answer for key while it is fresh at now.
func (c *TTLCache[V]) Get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put keeps v for key until now + ttl.
func (c *TTLCache[V]) Put(key string, v V, ttl time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]ttlEntry[V]{}
	}
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	c.m[key] = ttlEntry[V]{v: v, expires: now.Add(ttl)}
}
