package channel

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

// ErrNoCertificate reports that a party has no certificate we may encrypt
// for; the wrapping error names why each candidate was unusable.
var ErrNoCertificate = errors.New("no usable recipient certificate")

// errDiscovery marks a DNS failure that may pass (as opposed to a name that
// publishes nothing), so Send retries instead of failing the delivery.
var errDiscovery = errors.New("certificate discovery failed")

// RecipientCert returns the certificate to encrypt for the party's Direct
// address: the directory's CertPEM when set, else what discovery finds (DNS
// CERT, then LDAP; see Discover). The certificate is valid now, allows key
// encipherment, is bound to the address or its domain and chains to our
// trust anchors, through intermediates fetched by AIA when the bundle
// lacks them. A discovered certificate is cached (see Config.DiscoveryTTL).
// It may do network I/O: never call it in a transaction.
func (c *Channel) RecipientCert(ctx context.Context, e *gateway.Entry) (*x509.Certificate, error) {
	return c.recipientCert(ctx, e, true)
}

// recipientCert is RecipientCert; without lookup it answers from the
// directory and the caches only, and a cache miss is gateway.ErrNotResolved.
func (c *Channel) recipientCert(ctx context.Context, e *gateway.Entry, lookup bool) (*x509.Certificate, error) {
	if e == nil || e.Direct == nil || strings.TrimSpace(e.Direct.Address) == "" {
		return nil, errors.New("no Direct address in the directory entry")
	}
	addr := e.Direct.Address
	if e.Direct.CertPEM != "" {
		list, err := certs.DecodeCertsPEM([]byte(e.Direct.CertPEM))
		if err != nil {
			return nil, fmt.Errorf("directory certificate of %s: %w: %w", addr, ErrNoCertificate, err)
		}
		if lookup {
			for _, cert := range list {
				if !cert.IsCA {
					c.completeChain(ctx, cert, list)
				}
			}
		}
		return c.pick(addr, "directory", list)
	}
	if len(c.cfg.Sources) == 0 {
		return nil, fmt.Errorf("%s: %w: no certificate in the directory and DNS discovery is not configured", addr, ErrNoCertificate)
	}
	d, ok := c.discovered.get(addr, c.cfg.Now())
	if !ok {
		if !lookup {
			return nil, fmt.Errorf("%s: certificate discovery: %w", addr, gateway.ErrNotResolved)
		}
		d = c.discover(ctx, addr)
	}
	if d.Chosen == nil {
		return nil, d.err
	}
	if lookup {
		c.completeChain(ctx, d.Chosen.Cert, d.extra)
	}
	// Judged at discovery; checked again now, as time has passed.
	if err := c.CheckRecipientCert(d.Chosen.Cert, addr, d.extra...); err != nil {
		if errors.Is(err, gateway.ErrNotResolved) {
			return nil, err
		}
		return nil, fmt.Errorf("%s (%s): %w: %w", addr, d.Chosen.Origin, ErrNoCertificate, err)
	}
	return d.Chosen.Cert, nil
}

// knownWith returns the certificates found with the party's recipient
// certificate (the directory's PEM list, or what discovery found and
// fetched through AIA): the intermediates its chain may need.
func (c *Channel) knownWith(e *gateway.Entry) []*x509.Certificate {
	if e == nil || e.Direct == nil {
		return nil
	}
	if e.Direct.CertPEM != "" {
		list, _ := certs.DecodeCertsPEM([]byte(e.Direct.CertPEM))
		return list
	}
	if d, ok := c.discovered.get(e.Direct.Address, c.cfg.Now()); ok {
		return d.extra
	}
	return nil
}

// pick returns the first candidate usable for addr; the others in the list
// serve as intermediates.
func (c *Channel) pick(addr, source string, candidates []*x509.Certificate) (*x509.Certificate, error) {
	var reasons []string
	for _, cert := range candidates {
		if cert.IsCA {
			continue
		}
		err := c.CheckRecipientCert(cert, addr, candidates...)
		if err == nil {
			return cert, nil
		}
		if errors.Is(err, gateway.ErrNotResolved) {
			return nil, fmt.Errorf("%s (%s): %w", addr, source, err)
		}
		reasons = append(reasons, err.Error())
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no end-entity certificate")
	}
	return nil, fmt.Errorf("%s (%s): %w: %s", addr, source, ErrNoCertificate, strings.Join(reasons, "; "))
}

// CheckRecipientCert says why cert cannot be encrypted for at addr now, or
// returns nil: validity, keyEncipherment, binding to the address or its
// domain, and a chain to our anchors (extra certificates may supply
// intermediates).
func (c *Channel) CheckRecipientCert(cert *x509.Certificate, addr string, extra ...*x509.Certificate) error {
	_, err := c.recipientChain(cert, addr, extra...)
	return err
}

// CheckRevoked says whether the recipient certificate, or a certificate of
// its chain, is revoked: ErrRecipientRevoked (permanent), or an error
// wrapping smime.ErrRevocationUnknown when a CRL cannot be fetched (worth
// a retry). It fetches over the network: never call it in a transaction.
func (c *Channel) CheckRevoked(ctx context.Context, cert *x509.Certificate, addr string, extra ...*x509.Certificate) error {
	if c.cfg.SkipRevocation {
		return nil
	}
	chain, err := c.recipientChain(cert, addr, extra...)
	if err != nil {
		return err
	}
	err = smime.CheckRevocation(ctx, chain, c.cfg.CRLs, c.cfg.Now())
	if errors.Is(err, smime.ErrCertRevoked) {
		return fmt.Errorf("%w: %w", ErrRecipientRevoked, err)
	}
	return err
}

// ErrRecipientRevoked reports a recipient certificate listed on its CRL.
var ErrRecipientRevoked = errors.New("recipient certificate revoked")

// recipientChain is CheckRecipientCert returning the verified chain.
func (c *Channel) recipientChain(cert *x509.Certificate, addr string, extra ...*x509.Certificate) ([]*x509.Certificate, error) {
	now := c.cfg.Now()
	name := cert.Subject.CommonName
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("certificate %q is not valid at %s (valid %s to %s)", name,
			now.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := certs.CheckCertKey(cert); err != nil {
		return nil, err
	}
	if cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		return nil, fmt.Errorf("certificate %q does not allow key encipherment", name)
	}
	if !BoundTo(cert, addr) {
		return nil, fmt.Errorf("certificate %q is bound neither to %s nor to its domain", name, addr)
	}
	inter := x509.NewCertPool()
	for _, x := range extra {
		if x != cert {
			inter.AddCert(x)
		}
	}
	opts := x509.VerifyOptions{Roots: c.cfg.Trust.Pool(), Intermediates: inter,
		CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	chains, err := cert.Verify(opts)
	var unknown x509.UnknownAuthorityError
	if err != nil && errors.As(err, &unknown) && c.cfg.AIA != nil && len(cert.IssuingCertificateURL) > 0 {
		// The bundle lacks an intermediate: take the ones fetched through
		// the AIA links (from the cache: this may run in a transaction).
		fetched, aerr := c.cfg.AIA.CompleteCached(cert, c.cfg.Trust.Pool(), extra, now)
		if errors.Is(aerr, certs.ErrAIANotFetched) {
			return nil, fmt.Errorf("certificate %q: intermediates via AIA: %w", name, gateway.ErrNotResolved)
		}
		if aerr != nil {
			return nil, fmt.Errorf("certificate %q does not chain to a trust anchor: %w", name, aerr)
		}
		for _, x := range fetched {
			inter.AddCert(x)
		}
		chains, err = cert.Verify(opts)
	}
	if err != nil {
		return nil, fmt.Errorf("certificate %q does not chain to a trust anchor: %w", name, err)
	}
	for _, link := range chains[0][1:] {
		if err := certs.CheckCertKey(link); err != nil {
			return nil, fmt.Errorf("chain of %q: %w", name, err)
		}
	}
	return chains[0], nil
}

// BoundTo reports whether cert names addr as an rfc822Name or addr's domain
// as a dNSName, the Direct binding rule; names compare case-insensitively.
func BoundTo(cert *x509.Certificate, addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return false
	}
	domain := strings.TrimSuffix(addr[at+1:], ".")
	for _, e := range cert.EmailAddresses {
		if strings.EqualFold(e, addr) {
			return true
		}
	}
	for _, d := range cert.DNSNames {
		if strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
			return true
		}
	}
	return false
}

// Domain returns the domain of a bare address in lower case, or "".
func Domain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))
}
