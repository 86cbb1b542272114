package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/mail"
	"strings"
	"time"
)

// RSAKeyBits is the modulus size of every key the development CA generates;
// the Direct Applicability Statement requires RSA 2048 at least.
const RSAKeyBits = 2048

// Identity is a certificate with its private key and the intermediate
// certificates (issuer first, anchor excluded) that a signer ships with it.
type Identity struct {
	Cert  *x509.Certificate
	Key   *rsa.PrivateKey
	Chain []*x509.Certificate
}

// CA is a self-signed development certificate authority. It is meant for
// local use and tests only: its key lives in memory, it keeps no database,
// and it is not safe for concurrent use. All its certificates and CRLs are
// dated from the time given to NewDevCA.
type CA struct {
	// Cert is the self-signed anchor certificate; publish it as the trust anchor.
	Cert *x509.Certificate
	// Key signs the certificates and CRLs the CA issues.
	Key *rsa.PrivateKey
	// CRLURL, when set, is written as the CRL distribution point of every
	// certificate issued afterwards (unless an IssueOption overrides it).
	CRLURL string
	// IssuerURL, when set, is written as the caIssuers link (Authority
	// Information Access) of every certificate issued afterwards: where
	// this CA's certificate can be fetched.
	IssuerURL string

	now      time.Time
	crlCount int64
}

// NewDevCA creates a development CA named after domain, valid from an hour
// before now for ten years.
func NewDevCA(domain string, now time.Time) (*CA, error) {
	if domain == "" {
		return nil, errors.New("certs: new dev CA: empty domain")
	}
	key, err := rsa.GenerateKey(rand.Reader, RSAKeyBits)
	if err != nil {
		return nil, fmt.Errorf("certs: new dev CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("certs: new dev CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Development Direct CA for " + domain, Organization: []string{"Referral Gateway (development)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: new dev CA: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: new dev CA: parse certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, now: now}, nil
}

// NewIntermediate issues a subordinate CA named name under ca (with ca's
// CRL point and caIssuers link) and returns it, ready to issue; its Cert is
// the intermediate certificate, not an anchor.
func (ca *CA) NewIntermediate(name string) (*CA, error) {
	key, err := rsa.GenerateKey(rand.Reader, RSAKeyBits)
	if err != nil {
		return nil, fmt.Errorf("certs: new intermediate: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("certs: new intermediate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Referral Gateway (development)"}},
		NotBefore:             ca.now.Add(-time.Hour),
		NotAfter:              ca.now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	if ca.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{ca.CRLURL}
	}
	if ca.IssuerURL != "" {
		tmpl.IssuingCertificateURL = []string{ca.IssuerURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: new intermediate: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: new intermediate: parse certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, now: ca.now}, nil
}

// IssueOption adjusts one certificate issued by the CA.
type IssueOption func(*issueConfig)

type issueConfig struct {
	notBefore, notAfter time.Time
	crlURL              *string
	keyUsage            x509.KeyUsage
}

// ValidBetween sets the validity window of the issued certificate, for
// example to produce an expired certificate in a test.
func ValidBetween(notBefore, notAfter time.Time) IssueOption {
	return func(c *issueConfig) { c.notBefore, c.notAfter = notBefore, notAfter }
}

// WithCRLURL sets the CRL distribution point of the issued certificate,
// overriding CA.CRLURL; an empty url omits the extension.
func WithCRLURL(url string) IssueOption {
	return func(c *issueConfig) { c.crlURL = &url }
}

// WithKeyUsage replaces the default key usage (digitalSignature and
// keyEncipherment), for example to test a certificate that may not sign.
func WithKeyUsage(ku x509.KeyUsage) IssueOption {
	return func(c *issueConfig) { c.keyUsage = ku }
}

// IssueAddress issues an address-bound certificate: its subject alternative
// name is the rfc822Name addr and its common name the address itself.
func (ca *CA) IssueAddress(addr string, opts ...IssueOption) (*Identity, error) {
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Address != addr || parsed.Name != "" {
		return nil, fmt.Errorf("certs: issue address %q: not a bare address", addr)
	}
	tmpl := &x509.Certificate{
		Subject:        pkix.Name{CommonName: addr},
		EmailAddresses: []string{addr},
	}
	id, err := ca.issue(tmpl, opts)
	if err != nil {
		return nil, fmt.Errorf("certs: issue address %q: %w", addr, err)
	}
	return id, nil
}

// IssueDomain issues a domain-bound certificate: its subject alternative
// name is the dNSName domain, which makes it valid for every address there.
func (ca *CA) IssueDomain(domain string, opts ...IssueOption) (*Identity, error) {
	if domain == "" || strings.ContainsAny(domain, "@ /") {
		return nil, fmt.Errorf("certs: issue domain %q: not a domain name", domain)
	}
	tmpl := &x509.Certificate{
		Subject:  pkix.Name{CommonName: domain},
		DNSNames: []string{domain},
	}
	id, err := ca.issue(tmpl, opts)
	if err != nil {
		return nil, fmt.Errorf("certs: issue domain %q: %w", domain, err)
	}
	return id, nil
}

func (ca *CA) issue(tmpl *x509.Certificate, opts []IssueOption) (*Identity, error) {
	cfg := issueConfig{
		notBefore: ca.now.Add(-time.Hour),
		notAfter:  ca.now.AddDate(1, 0, 0),
		keyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	for _, o := range opts {
		o(&cfg)
	}
	crlURL := ca.CRLURL
	if cfg.crlURL != nil {
		crlURL = *cfg.crlURL
	}
	key, err := rsa.GenerateKey(rand.Reader, RSAKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = cfg.notBefore, cfg.notAfter
	tmpl.KeyUsage = cfg.keyUsage
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	tmpl.BasicConstraintsValid = true
	if crlURL != "" {
		tmpl.CRLDistributionPoints = []string{crlURL}
	}
	if ca.IssuerURL != "" {
		tmpl.IssuingCertificateURL = []string{ca.IssuerURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return &Identity{Cert: cert, Key: key}, nil
}

// CRL returns a DER certificate revocation list signed by the CA that lists
// the given certificates as revoked at the CA's time. It is valid for a day
// (NextUpdate), and each call gets the next CRL number.
func (ca *CA) CRL(revoked ...*x509.Certificate) ([]byte, error) {
	ca.crlCount++
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: ca.now})
	}
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(ca.crlCount),
		ThisUpdate:                ca.now,
		NextUpdate:                ca.now.Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: create CRL: %w", err)
	}
	return der, nil
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}
