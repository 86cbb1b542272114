package channel

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/gateway"
)

// Default lifetimes of cached certificate discoveries.
const (
	DefaultDiscoveryTTL     = 10 * time.Minute
	DefaultDiscoveryFailTTL = time.Minute
)

var _ gateway.Resolver = (*Channel)(nil)

// Resolve implements gateway.Resolver: it discovers the party's
// certificate (DNS CERT, then LDAP) when the directory carries none, and
// fetches missing intermediates through AIA links, caching both so that
// Reachable, which runs inside the core's transactions, never waits on
// the network.
func (c *Channel) Resolve(ctx context.Context, to *gateway.Entry) error {
	if to == nil || to.Direct == nil || strings.TrimSpace(to.Direct.Address) == "" {
		return nil
	}
	if to.Direct.CertPEM != "" {
		list, err := certs.DecodeCertsPEM([]byte(to.Direct.CertPEM))
		if err != nil {
			return nil // Reachable says why
		}
		for _, cert := range list {
			if !cert.IsCA {
				c.completeChain(ctx, cert, list)
			}
		}
		return nil
	}
	if len(c.cfg.Sources) == 0 {
		return nil
	}
	if d, ok := c.discovered.get(to.Direct.Address, c.cfg.Now()); ok {
		if d.Chosen != nil { // the AIA answers may have expired before the discovery
			c.completeChain(ctx, d.Chosen.Cert, d.extra)
		}
		return nil
	}
	d := c.discover(ctx, to.Direct.Address)
	return d.err
}

// Source is one place recipient certificates are discovered; the channel
// asks its sources in order and stops at the first that yields a usable
// certificate.
type Source struct {
	// Name is how the source is reported ("DNS CERT", "LDAP").
	Name string
	// Find returns the certificates found for an address, best first;
	// certs.ErrNotDiscovered when the source holds none.
	Find func(ctx context.Context, address string) ([]certs.Found, error)
}

// DNSSource makes a DiscoverFunc (such as (*certs.Discoverer).Discover) a
// Source named name.
func DNSSource(name string, fn DiscoverFunc) Source {
	return Source{Name: name, Find: func(ctx context.Context, addr string) ([]certs.Found, error) {
		list, err := fn(ctx, addr)
		out := make([]certs.Found, 0, len(list))
		for _, c := range list {
			out = append(out, certs.Found{Cert: c, Origin: name})
		}
		return out, err
	}}
}

// Candidate is one discovered certificate and the channel's verdict on it.
type Candidate struct {
	certs.Found
	// Chain runs from the certificate to its anchor when it verifies.
	Chain []*x509.Certificate
	// ViaAIA are the intermediates of Chain fetched through AIA links.
	ViaAIA []*x509.Certificate
	// Revocation is the outcome of the CRL check, "" when not reached.
	Revocation string
	// RevocationUnknown is true when the CRL could not be had: the
	// certificate is used, but its revocation status is not known.
	RevocationUnknown bool
	// Err says why the certificate may not be encrypted for; nil: usable.
	Err error
}

// SourceResult is what one source answered.
type SourceResult struct {
	Name       string
	Candidates []Candidate
	// Err is the source's own failure (certs.ErrNotDiscovered: it holds
	// nothing for the address).
	Err error
}

// Discovery is the outcome of discovering an address's certificate:
// what each source asked yielded, and the certificate chosen.
type Discovery struct {
	Address string
	Sources []SourceResult
	// Chosen is the first usable candidate, nil when there is none.
	Chosen *Candidate
	// extra are the other certificates found with Chosen and its AIA
	// intermediates: the intermediates to verify it with again.
	extra []*x509.Certificate
	// err is ErrNoCertificate or errDiscovery with the reasons, when no
	// candidate is usable.
	err error
}

// Discover asks the sources in order, judges every certificate found
// (validity, key strength, key usage, binding to the address or its domain,
// chain to an anchor completed through AIA, revocation) and returns the
// outcome, also caching it for Reachable. The first source with a usable
// certificate decides: DNS CERT before LDAP, and within a source
// address-bound before domain-bound. It does network I/O: never call it in
// a transaction.
func (c *Channel) Discover(ctx context.Context, addr string) *Discovery {
	return c.discover(ctx, addr)
}

func (c *Channel) discover(ctx context.Context, addr string) *Discovery {
	d := &Discovery{Address: addr}
	var (
		reasons   []string
		transient bool
	)
	for _, src := range c.cfg.Sources {
		found, err := src.Find(ctx, addr)
		res := SourceResult{Name: src.Name, Err: err}
		switch {
		case errors.Is(err, certs.ErrNotDiscovered):
			reasons = append(reasons, fmt.Sprintf("%s: %v", src.Name, err))
		case err != nil:
			transient = true
			reasons = append(reasons, fmt.Sprintf("%s: %v", src.Name, err))
		case len(found) == 0:
			res.Err = certs.ErrNotDiscovered
			reasons = append(reasons, src.Name+": "+certs.ErrNotDiscovered.Error())
		}
		all := make([]*x509.Certificate, 0, len(found))
		for _, f := range found {
			all = append(all, f.Cert)
		}
		for _, f := range found {
			cand := c.judge(ctx, f, addr, all)
			res.Candidates = append(res.Candidates, cand)
			if cand.Err != nil {
				reasons = append(reasons, fmt.Sprintf("%s from %s: %v", cand.Cert.Subject.CommonName, cand.Origin, cand.Err))
			} else if d.Chosen == nil {
				chosen := cand
				d.Chosen = &chosen
				d.extra = append(append([]*x509.Certificate{}, all...), cand.ViaAIA...)
			}
		}
		d.Sources = append(d.Sources, res)
		if d.Chosen != nil {
			break
		}
	}
	if d.Chosen == nil {
		why := strings.Join(reasons, "; ")
		if len(c.cfg.Sources) == 0 {
			why = "no discovery source is configured"
		}
		if transient {
			d.err = fmt.Errorf("%s: %w: %s", addr, errDiscovery, why)
		} else {
			d.err = fmt.Errorf("%s: %w: %s", addr, ErrNoCertificate, why)
		}
	}
	if ctx.Err() == nil { // a cancelled caller says nothing about the sources
		c.discovered.put(addr, d, c.cfg.Now())
	}
	return d
}

// Pinned judges the certificates a directory entry pins for its Direct
// address, as Send would use them (AIA and CRL fetches included): the
// source is named "directory". It does network I/O: never call it in a
// transaction.
func (c *Channel) Pinned(ctx context.Context, e *gateway.Entry) SourceResult {
	res := SourceResult{Name: "directory"}
	if e == nil || e.Direct == nil || e.Direct.CertPEM == "" {
		res.Err = certs.ErrNotDiscovered
		return res
	}
	list, err := certs.DecodeCertsPEM([]byte(e.Direct.CertPEM))
	if err != nil {
		res.Err = err
		return res
	}
	for _, cert := range list {
		res.Candidates = append(res.Candidates, c.judge(ctx, certs.Found{Cert: cert, Origin: "pinned in directory entry " + e.ID}, e.Direct.Address, list))
	}
	return res
}

// judge gives the verdict on one discovered certificate, fetching missing
// intermediates and the CRLs over the network. A CA certificate is only an
// intermediate; a CRL that cannot be fetched leaves the certificate usable
// here (Send checks again and waits for a verdict).
func (c *Channel) judge(ctx context.Context, f certs.Found, addr string, all []*x509.Certificate) Candidate {
	cand := Candidate{Found: f}
	if f.Cert.IsCA {
		cand.Err = errors.New("a CA certificate, usable as an intermediate only")
		return cand
	}
	c.completeChain(ctx, f.Cert, all)
	chain, err := c.recipientChain(f.Cert, addr, all...)
	if err != nil {
		cand.Err = err
		return cand
	}
	cand.Chain = chain
	for _, link := range chain[1 : len(chain)-1] {
		if !containsCert(all, link) && !c.anchored(link) {
			cand.ViaAIA = append(cand.ViaAIA, link)
		}
	}
	switch err := c.CheckRevoked(ctx, f.Cert, addr, all...); {
	case c.cfg.SkipRevocation:
		cand.Revocation = "not checked (revocation checking is off)"
	case err == nil && len(f.Cert.CRLDistributionPoints) == 0:
		cand.Revocation = "not checked (the certificate names no CRL distribution point)"
	case err == nil:
		cand.Revocation = "good (CRL " + strings.Join(f.Cert.CRLDistributionPoints, ", ") + ")"
	case errors.Is(err, ErrRecipientRevoked):
		cand.Revocation = "revoked"
		cand.Err = err
	default:
		cand.Revocation, cand.RevocationUnknown = "unknown: "+err.Error(), true
	}
	return cand
}

// completeChain fetches, through AIA links, the intermediates cert needs
// and keeps them in the fetcher's cache; a failure is cached too and
// reported by recipientChain.
func (c *Channel) completeChain(ctx context.Context, cert *x509.Certificate, extra []*x509.Certificate) {
	if c.cfg.AIA == nil {
		return
	}
	_, _ = c.cfg.AIA.Complete(ctx, cert, c.cfg.Trust.Pool(), extra, c.cfg.Now())
}

func (c *Channel) anchored(cert *x509.Certificate) bool {
	return containsCert(c.cfg.Trust.Anchors(), cert)
}

func containsCert(list []*x509.Certificate, cert *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(cert) {
			return true
		}
	}
	return false
}

// discoveryCache keeps discovery outcomes per address: a usable
// certificate for ttl, a failure for failTTL.
type discoveryCache struct {
	ttl, failTTL time.Duration
	m            certs.TTLCache[*Discovery]
}

func (dc *discoveryCache) get(addr string, now time.Time) (*Discovery, bool) {
	return dc.m.Get(addr, now)
}

func (dc *discoveryCache) put(addr string, d *Discovery, now time.Time) {
	ttl := dc.ttl
	if d.Chosen == nil {
		ttl = dc.failTTL
	}
	dc.m.Put(addr, d, ttl, now)
}
