package smime

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/referralgw/gateway/direct/certs"
)

// CRLFetcher fetches the certificate revocation list published at a CRL
// distribution point URL. It returns the parsed list; Verify checks its
// issuer, signature and freshness itself.
type CRLFetcher interface {
	FetchCRL(ctx context.Context, url string) (*x509.RevocationList, error)
}

// CRLFetcherFunc adapts a function to CRLFetcher.
type CRLFetcherFunc func(ctx context.Context, url string) (*x509.RevocationList, error)

// FetchCRL calls f.
func (f CRLFetcherFunc) FetchCRL(ctx context.Context, url string) (*x509.RevocationList, error) {
	return f(ctx, url)
}

// HTTPCRLFetcher fetches CRLs over HTTP(S), DER or PEM encoded.
type HTTPCRLFetcher struct {
	// Client is the HTTP client; nil means a client with no other settings.
	Client *http.Client
	// Timeout bounds each fetch; zero means 10 seconds.
	Timeout time.Duration
	// MaxBytes bounds the size of a CRL; zero means 16 MiB.
	MaxBytes int64
}

// FetchCRL implements CRLFetcher. Only http and https URLs are fetched.
func (f *HTTPCRLFetcher) FetchCRL(ctx context.Context, url string) (*x509.RevocationList, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("smime: fetch CRL %q: only http(s) distribution points are supported", url)
	}
	timeout, limit := f.Timeout, f.MaxBytes
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if limit <= 0 {
		limit = 16 << 20
	}
	body, err := certs.FetchBounded(ctx, f.Client, url, timeout, limit)
	if err != nil {
		return nil, fmt.Errorf("smime: fetch CRL %q: %w", url, err)
	}
	if block, _ := pem.Decode(body); block != nil && block.Type == "X509 CRL" {
		body = block.Bytes
	}
	crl, err := ParseCRL(body)
	if err != nil {
		return nil, fmt.Errorf("smime: fetch CRL %q: %w", url, err)
	}
	return crl, nil
}

// CRLCache wraps a CRLFetcher and keeps each fetched CRL until its
// NextUpdate, judged by an injected clock. It is safe for concurrent use.
type CRLCache struct {
	fetcher CRLFetcher
	now     func() time.Time
	mu      sync.Mutex
	byURL   map[string]*x509.RevocationList
}

// NewCRLCache returns a cache in front of fetcher; now is the clock that
// decides when a cached CRL is stale.
func NewCRLCache(fetcher CRLFetcher, now func() time.Time) *CRLCache {
	return &CRLCache{fetcher: fetcher, now: now, byURL: map[string]*x509.RevocationList{}}
}

// FetchCRL implements CRLFetcher: a cached CRL whose NextUpdate has not
// passed is returned without fetching; a CRL without NextUpdate is never
// cached.
func (c *CRLCache) FetchCRL(ctx context.Context, url string) (*x509.RevocationList, error) {
	c.mu.Lock()
	crl, ok := c.byURL[url]
	c.mu.Unlock()
	if ok && c.now().Before(crl.NextUpdate) {
		return crl, nil
	}
	crl, err := c.fetcher.FetchCRL(ctx, url)
	if err != nil {
		return nil, err
	}
	if !crl.NextUpdate.IsZero() {
		c.mu.Lock()
		c.byURL[url] = crl
		c.mu.Unlock()
	}
	return crl, nil
}

// CheckRevocation checks a certificate chain (leaf first, anchor last)
// against the CRLs its certificates name, as Verify does for a signer: the
// outbound side uses it for the recipient we encrypt for. It wraps
// ErrCertRevoked or ErrRevocationUnknown.
func CheckRevocation(ctx context.Context, chain []*x509.Certificate, fetcher CRLFetcher, now time.Time) error {
	return checkRevocation(ctx, chain, fetcher, now)
}

// checkRevocation checks every certificate of chain but the anchor against
// the CRL its issuer publishes at the certificate's distribution points.
// A certificate without distribution points is not checked.
func checkRevocation(ctx context.Context, chain []*x509.Certificate, fetcher CRLFetcher, now time.Time) error {
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		if len(cert.CRLDistributionPoints) == 0 {
			continue
		}
		var errs []error
		var crl *x509.RevocationList
		for _, url := range cert.CRLDistributionPoints {
			got, err := fetcher.FetchCRL(ctx, url)
			if err == nil {
				err = validCRL(got, issuer, now)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			crl = got
			break
		}
		if crl == nil {
			return fmt.Errorf("%w for %q: %w", ErrRevocationUnknown, cert.Subject.CommonName, errors.Join(errs...))
		}
		for _, entry := range crl.RevokedCertificateEntries {
			if entry.SerialNumber != nil && entry.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return fmt.Errorf("%w: %q (serial %x) since %s", ErrCertRevoked,
					cert.Subject.CommonName, cert.SerialNumber, entry.RevocationTime.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

// validCRL checks that crl was issued and signed by issuer and is current.
func validCRL(crl *x509.RevocationList, issuer *x509.Certificate, now time.Time) error {
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return errors.New("CRL issuer is not the certificate issuer")
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("CRL signature: %w", err)
	}
	if now.Before(crl.ThisUpdate) {
		return errors.New("CRL not yet valid")
	}
	if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
		return errors.New("CRL is stale (past NextUpdate)")
	}
	return nil
}
