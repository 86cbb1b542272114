package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Default bounds and cache lifetimes of AIA chain building.
const (
	DefaultAIAMaxDepth = 4
	DefaultAIAMaxBytes = 256 << 10
	DefaultAIATimeout  = 5 * time.Second
	DefaultAIATTL      = time.Hour
	DefaultAIAFailTTL  = 5 * time.Minute
)

// ErrAIA reports that a chain could not be completed through the
// certificates' Authority Information Access caIssuers links.
var ErrAIA = errors.New("AIA chain building failed")

// ErrAIANotFetched reports that CompleteCached needed a caIssuers URL that
// has not been fetched (or whose answer has expired).
var ErrAIANotFetched = errors.New("AIA issuer not fetched yet")

// AIAFetcher completes certificate chains whose intermediates are missing
// from the trust bundle by following each certificate's Authority
// Information Access caIssuers URL (RFC 5280 4.2.2.1: a DER certificate or
// a certs-only PKCS #7 bundle over HTTP). Fetched certificates are used
// only when the whole chain then verifies up to an anchor. Answers, good
// and bad, are cached per URL. It fetches over the network: never call
// Complete inside a database transaction. Safe for concurrent use.
type AIAFetcher struct {
	// Client makes the requests: give it the outbound address guard. Nil
	// means http.DefaultClient's behaviour with Timeout.
	Client *http.Client
	// MaxDepth bounds how many issuers are fetched for one chain
	// (DefaultAIAMaxDepth when zero); MaxBytes bounds one response
	// (DefaultAIAMaxBytes); Timeout bounds one fetch (DefaultAIATimeout).
	MaxDepth int
	MaxBytes int64
	Timeout  time.Duration
	// TTL is how long a fetched answer is reused (DefaultAIATTL); FailTTL
	// how long a failed fetch is (DefaultAIAFailTTL).
	TTL, FailTTL time.Duration
	// Now is the cache clock (time.Now when nil).
	Now func() time.Time

	cache TTLCache[aiaAnswer]
}

type aiaAnswer struct {
	certs []*x509.Certificate
	err   error
}

// Complete returns the intermediates, fetched through AIA, that chain cert
// to one of roots at time at, given the intermediates already known in
// extra; nil when cert already chains without fetching. A chain that
// cannot be completed is an error wrapping ErrAIA that names the URL and
// why (unreachable, not a certificate, wrong issuer, too deep).
func (f *AIAFetcher) Complete(ctx context.Context, cert *x509.Certificate, roots *x509.CertPool, extra []*x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	return f.complete(ctx, cert, roots, extra, at, false)
}

// CompleteCached is Complete answering from the cache only, with no
// network I/O, so it may run inside a transaction: a URL not fetched yet
// is an error wrapping ErrAIANotFetched, and a cached failure is reported
// as it was.
func (f *AIAFetcher) CompleteCached(cert *x509.Certificate, roots *x509.CertPool, extra []*x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	return f.complete(context.Background(), cert, roots, extra, at, true)
}

func (f *AIAFetcher) complete(ctx context.Context, cert *x509.Certificate, roots *x509.CertPool, extra []*x509.Certificate, at time.Time, offline bool) ([]*x509.Certificate, error) {
	verifies := func(fetched []*x509.Certificate) error {
		inter := x509.NewCertPool()
		for _, c := range append(cloneCerts(extra), fetched...) {
			inter.AddCert(c)
		}
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
	if verifies(nil) == nil {
		return nil, nil
	}
	maxDepth := f.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultAIAMaxDepth
	}
	var fetched []*x509.Certificate
	cur := cert
	for depth := 0; ; depth++ {
		if depth == maxDepth {
			return nil, fmt.Errorf("%w: %q: no anchor within %d AIA links", ErrAIA, cert.Subject.CommonName, maxDepth)
		}
		issuer, err := f.issuerOf(ctx, cur, offline)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAIA, err)
		}
		if err := CheckCertKey(issuer); err != nil {
			return nil, fmt.Errorf("%w: issuer fetched for %q: %w", ErrAIA, cur.Subject.CommonName, err)
		}
		fetched = append(fetched, issuer)
		err = verifies(fetched)
		if err == nil {
			return fetched, nil
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("%w: chain through %q: %w", ErrAIA, issuer.Subject.CommonName, err)
		}
		if bytes.Equal(issuer.RawSubject, issuer.RawIssuer) {
			return nil, fmt.Errorf("%w: %q leads to the self-signed %q, which is not a trust anchor", ErrAIA,
				cert.Subject.CommonName, issuer.Subject.CommonName)
		}
		cur = issuer
	}
}

func cloneCerts(list []*x509.Certificate) []*x509.Certificate {
	return append([]*x509.Certificate(nil), list...)
}

// issuerOf fetches cur's caIssuers URLs in order and returns the first
// certificate found there that issued cur.
func (f *AIAFetcher) issuerOf(ctx context.Context, cur *x509.Certificate, offline bool) (*x509.Certificate, error) {
	var urls []string
	for _, u := range cur.IssuingCertificateURL {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("%q is issued by %q, which is not in the trust bundle, and names no http caIssuers URL",
			cur.Subject.CommonName, cur.Issuer.CommonName)
	}
	var errs []error
	for _, u := range urls {
		list, err := f.fetch(ctx, u, offline)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range list {
			if bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				return c, nil
			}
		}
		errs = append(errs, fmt.Errorf("caIssuers %s: no certificate there issued %q", u, cur.Subject.CommonName))
	}
	return nil, errors.Join(errs...)
}

// fetch returns the certificates at url, from the cache while fresh.
func (f *AIAFetcher) fetch(ctx context.Context, url string, offline bool) ([]*x509.Certificate, error) {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	if a, ok := f.cache.Get(url, now()); ok {
		return a.certs, a.err
	}
	if offline {
		return nil, fmt.Errorf("caIssuers %s: %w", url, ErrAIANotFetched)
	}
	list, err := f.get(ctx, url)
	if ctx.Err() != nil { // a cancelled caller says nothing about the URL
		return nil, err
	}
	ttl := f.TTL
	if ttl <= 0 {
		ttl = DefaultAIATTL
	}
	if err != nil {
		ttl = f.FailTTL
		if ttl <= 0 {
			ttl = DefaultAIAFailTTL
		}
	}
	f.cache.Put(url, aiaAnswer{certs: list, err: err}, ttl, now())
	return list, err
}

// get fetches and parses one caIssuers URL.
func (f *AIAFetcher) get(ctx context.Context, url string) ([]*x509.Certificate, error) {
	timeout, limit := f.Timeout, f.MaxBytes
	if timeout <= 0 {
		timeout = DefaultAIATimeout
	}
	if limit <= 0 {
		limit = DefaultAIAMaxBytes
	}
	body, err := FetchBounded(ctx, f.Client, url, timeout, limit)
	if err != nil {
		return nil, fmt.Errorf("caIssuers %s: %w", url, err)
	}
	list, err := ParseCAIssuers(body)
	if err != nil {
		return nil, fmt.Errorf("caIssuers %s: %w", url, err)
	}
	return list, nil
}

// ParseCAIssuers reads what a caIssuers URL serves: one DER certificate,
// or a certs-only PKCS #7 bundle (DER, or PEM as some publishers serve it).
func ParseCAIssuers(body []byte) ([]*x509.Certificate, error) {
	if c, err := x509.ParseCertificate(body); err == nil {
		return []*x509.Certificate{c}, nil
	}
	if list, err := DecodeCertsPEM(body); err == nil && len(list) > 0 {
		return list, nil
	}
	list, err := ParseP7B(body)
	if err != nil {
		return nil, errors.New("neither a DER certificate nor a PKCS #7 certificate bundle")
	}
	return list, nil
}

// FetchBounded GETs url with client (a plain one when nil) and returns
// the body of a 200 answer, giving up after timeout and refusing a body
// over limit bytes. Errors name the failure, not the URL: callers add it.
func FetchBounded(ctx context.Context, client *http.Client, url string, timeout time.Duration, limit int64) ([]byte, error) {
	if client == nil {
		client = &http.Client{}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return body, nil
}
