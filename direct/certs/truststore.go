package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
)

// TrustStore is the set of trust anchors against which inbound Direct
// signatures are verified: typically the CA certificates of the trust
// bundles (for example DirectTrust) a HISP participates in.
type TrustStore struct {
	mu      sync.RWMutex
	anchors []*x509.Certificate
	pool    *x509.CertPool
	fixed   []*x509.Certificate // anchors a Replace keeps (the local ones)
}

// LoadTrustStore parses a PEM bundle of anchor certificates. Every
// certificate must be a CA certificate.
func LoadTrustStore(bundle []byte) (*TrustStore, error) {
	certs, err := DecodeCertsPEM(bundle)
	if err != nil {
		return nil, fmt.Errorf("certs: load trust store: %w", err)
	}
	return NewTrustStore(certs...)
}

// NewTrustStore builds a TrustStore from already parsed anchors.
func NewTrustStore(anchors ...*x509.Certificate) (*TrustStore, error) {
	if len(anchors) == 0 {
		return nil, errors.New("certs: trust store: no anchors")
	}
	ts := &TrustStore{pool: x509.NewCertPool()}
	for _, a := range anchors {
		if !a.IsCA {
			return nil, fmt.Errorf("certs: trust store: anchor %q is not a CA certificate", a.Subject.String())
		}
		ts.pool.AddCert(a)
		ts.anchors = append(ts.anchors, a)
	}
	return ts, nil
}

// Pool returns the anchors as a pool for x509 path building; the caller
// must not modify it. After a Replace, callers get the new pool.
func (ts *TrustStore) Pool() *x509.CertPool {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.pool
}

// Anchors returns a copy of the anchor certificates in bundle order.
func (ts *TrustStore) Anchors() []*x509.Certificate {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return append([]*x509.Certificate(nil), ts.anchors...)
}

// Replace swaps the anchors that came from a refreshed bundle: the store
// then trusts its first anchors (those it was built with) plus bundle.
// Non-CA certificates in bundle are refused, and nothing changes.
func (ts *TrustStore) Replace(bundle []*x509.Certificate) error {
	for _, a := range bundle {
		if !a.IsCA {
			return fmt.Errorf("certs: trust bundle: %q is not a CA certificate", a.Subject.String())
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.fixed == nil {
		ts.fixed = append([]*x509.Certificate{}, ts.anchors...)
	}
	pool := x509.NewCertPool()
	all := append(append([]*x509.Certificate{}, ts.fixed...), bundle...)
	for _, a := range all {
		pool.AddCert(a)
	}
	ts.pool, ts.anchors = pool, all
	return nil
}
