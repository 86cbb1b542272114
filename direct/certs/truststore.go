package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// TrustStore is the set of trust anchors against which inbound Direct
// signatures are verified: typically the CA certificates of the trust
// bundles (for example DirectTrust) a HISP participates in.
type TrustStore struct {
	anchors []*x509.Certificate
	pool    *x509.CertPool
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
// must not modify it.
func (ts *TrustStore) Pool() *x509.CertPool { return ts.pool }

// Anchors returns a copy of the anchor certificates in bundle order.
func (ts *TrustStore) Anchors() []*x509.Certificate {
	return append([]*x509.Certificate(nil), ts.anchors...)
}
