package smtpout

import (
	"sync"
	"time"
)

// pool keeps idle SMTP sessions per destination. An idle session is closed
// by its own timer after the idle timeout.
type pool struct {
	idleTimeout time.Duration
	maxIdle     int

	mu     sync.Mutex
	idle   map[string][]*conn
	closed bool
}

func newPool(idleTimeout time.Duration, maxIdle int) *pool {
	return &pool{idleTimeout: idleTimeout, maxIdle: maxIdle, idle: make(map[string][]*conn)}
}

// get removes and returns the most recently used idle session for key.
func (p *pool) get(key string) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	p.idle[key] = list[:len(list)-1]
	c.idle.Stop()
	c.idle = nil
	return c
}

// put parks a session for reuse, or closes it when pooling is off, the pool
// is closed or full.
func (p *pool) put(c *conn) {
	p.mu.Lock()
	if p.closed || p.idleTimeout < 0 || len(p.idle[c.key]) >= p.maxIdle {
		p.mu.Unlock()
		c.close()
		return
	}
	c.idle = time.AfterFunc(p.idleTimeout, func() { p.expire(c) })
	p.idle[c.key] = append(p.idle[c.key], c)
	p.mu.Unlock()
}

// expire closes c if it is still idle in the pool.
func (p *pool) expire(c *conn) {
	p.mu.Lock()
	list := p.idle[c.key]
	found := false
	for i, x := range list {
		if x == c {
			p.idle[c.key] = append(list[:i:i], list[i+1:]...)
			found = true
			break
		}
	}
	p.mu.Unlock()
	if found {
		c.close()
	}
}

func (p *pool) closeAll() {
	p.mu.Lock()
	p.closed = true
	var all []*conn
	for k, list := range p.idle {
		for _, c := range list {
			c.idle.Stop()
			all = append(all, c)
		}
		delete(p.idle, k)
	}
	p.mu.Unlock()
	for _, c := range all {
		c.close()
	}
}
