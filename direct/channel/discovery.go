package channel

import (
	"context"
	"crypto/x509"
	"sync"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// Default lifetimes of cached DNS certificate discoveries.
const (
	DefaultDiscoveryTTL     = 10 * time.Minute
	DefaultDiscoveryFailTTL = time.Minute
)

var _ gateway.Resolver = (*Channel)(nil)

// Resolve implements gateway.Resolver: it discovers the party's
// certificates in DNS, when the directory carries none, and caches the
// answer so that Reachable, which runs inside the core's transactions,
// never waits on DNS.
func (c *Channel) Resolve(ctx context.Context, to *gateway.Entry) error {
	if to == nil || to.Direct == nil || to.Direct.CertPEM != "" || c.cfg.Discover == nil {
		return nil
	}
	if _, _, ok := c.discovered.get(to.Direct.Address, c.cfg.Now()); ok {
		return nil
	}
	_, err := c.discover(ctx, to.Direct.Address)
	return err
}

// discover asks DNS and caches the answer, a failure for less long.
func (c *Channel) discover(ctx context.Context, addr string) ([]*x509.Certificate, error) {
	list, err := c.cfg.Discover(ctx, addr)
	if ctx.Err() == nil { // a cancelled caller says nothing about DNS
		c.discovered.put(addr, list, err, c.cfg.Now())
	}
	return list, err
}

// discoveryCache keeps DNS discovery answers per address.
type discoveryCache struct {
	ttl, failTTL time.Duration
	mu           sync.Mutex
	m            map[string]discovery
}

type discovery struct {
	certs   []*x509.Certificate
	err     error
	expires time.Time
}

func (dc *discoveryCache) get(addr string, now time.Time) ([]*x509.Certificate, error, bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	d, ok := dc.m[addr]
	if !ok || !now.Before(d.expires) {
		return nil, nil, false
	}
	return d.certs, d.err, true
}

func (dc *discoveryCache) put(addr string, certs []*x509.Certificate, err error, now time.Time) {
	ttl := dc.ttl
	if err != nil {
		ttl = dc.failTTL
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.m == nil {
		dc.m = map[string]discovery{}
	}
	for a, d := range dc.m { // keep the map from growing with stale answers
		if !now.Before(d.expires) {
			delete(dc.m, a)
		}
	}
	dc.m[addr] = discovery{certs: certs, err: err, expires: now.Add(ttl)}
}
