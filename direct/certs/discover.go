package certs

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// certTypePKIX is the RFC 4398 CERT type of an X.509 certificate carried
// inline in the record.
const certTypePKIX = 1

// ErrNotDiscovered reports that neither the address nor its domain publishes
// a usable CERT record.
var ErrNotDiscovered = errors.New("certs: no certificate published in DNS")

// Discoverer finds a Direct partner's certificates in DNS CERT records.
type Discoverer struct {
	// Server is the resolver to ask, as host:port (for example "127.0.0.1:53").
	Server string
	// Timeout bounds each DNS exchange; zero means 5 seconds.
	Timeout time.Duration
}

// Discover returns the certificates published for address: first the CERT
// records at the address mapped to a DNS name (local-part "." domain), and
// when there are none, those at the domain (domain-bound certificates).
// Records that are not inline PKIX certificates are skipped; UDP answers
// that were truncated are asked again over TCP. The certificates are
// returned as published: the caller checks validity, trust and binding
// (smime.Verify's checks) before encrypting to one.
func (d *Discoverer) Discover(ctx context.Context, address string) ([]*x509.Certificate, error) {
	found, err := d.Find(ctx, address)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, f := range found { // the first name that publishes any: address-bound before domain-bound
		if f.Origin != found[0].Origin {
			break
		}
		out = append(out, f.Cert)
	}
	return out, nil
}

func (d *Discoverer) lookup(ctx context.Context, name string) ([]*x509.Certificate, error) {
	resp, err := d.query(ctx, name, dns.TypeCERT)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, rr := range resp.Answer {
		rec, ok := rr.(*dns.CERT)
		if !ok {
			continue
		}
		c, err := ParseCERTRecord(rec.Type, rec.Certificate)
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// query asks the server one question (UDP, then TCP after truncation) and
// returns the answer when it is a success or "no such name".
func (d *Discoverer) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("query %q: invalid DNS name", name)
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(4096, false)
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	resp, err := d.exchange(ctx, q, "udp", timeout)
	if err == nil && resp.Truncated {
		resp, err = d.exchange(ctx, q, "tcp", timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", name, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, fmt.Errorf("query %q: rcode %s", name, dns.RcodeToString[resp.Rcode])
	}
	return resp, nil
}

func (d *Discoverer) exchange(ctx context.Context, q *dns.Msg, network string, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: network, Timeout: timeout}
	conn, err := c.DialContext(ctx, d.Server)
	if err != nil {
		return nil, fmt.Errorf("%s exchange: %w", network, err)
	}
	defer conn.Close()
	// The client honours the deadline but not a cancellation: closing the
	// connection ends a read from a server that never answers.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s exchange: %w", network, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("%s exchange: %w", network, err)
	}
	return resp, nil
}

// ParseCERTRecord decodes the certificate field (base64, as miekg/dns
// presents it) of a CERT record of the given type; only PKIX is accepted.
func ParseCERTRecord(certType uint16, b64 string) (*x509.Certificate, error) {
	if certType != certTypePKIX {
		return nil, fmt.Errorf("certs: CERT record type %d is not PKIX", certType)
	}
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("certs: CERT record: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: CERT record: %w", err)
	}
	return c, nil
}

// Found is a certificate discovery turned up, with where it came from.
type Found struct {
	Cert *x509.Certificate
	// Origin names the place, such as "DNS CERT dr.rivera.direct.example
	// (via 127.0.0.1:53)" or "LDAP ldap1.direct.example:389".
	Origin string
}

// Find returns every certificate published at the address's DNS name,
// then those at the domain, each with its origin (Discover keeps only the
// first name's), so
// that a caller that finds the address-bound ones unusable can still take
// a domain-bound one. ErrNotDiscovered when neither name publishes any; a
// resolver failure on one name is reported only when the other has none.
func (d *Discoverer) Find(ctx context.Context, address string) ([]Found, error) {
	local, domain, ok := splitAddress(address)
	if !ok {
		return nil, fmt.Errorf("certs: discover %q: not an address", address)
	}
	var (
		out     []Found
		lastErr error
	)
	for _, name := range []string{local + "." + domain, domain} {
		list, err := d.lookup(ctx, name)
		if err != nil {
			lastErr = err
			continue
		}
		for _, c := range list {
			out = append(out, Found{Cert: c, Origin: fmt.Sprintf("DNS CERT %s (via %s)", name, d.Server)})
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case lastErr != nil:
		return nil, fmt.Errorf("certs: discover %q: %w", address, lastErr)
	}
	return nil, fmt.Errorf("certs: discover %q: %w", address, ErrNotDiscovered)
}

// splitAddress splits a bare address at its last "@".
func splitAddress(address string) (local, domain string, ok bool) {
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || at == len(address)-1 {
		return "", "", false
	}
	return address[:at], strings.TrimSuffix(address[at+1:], "."), true
}
