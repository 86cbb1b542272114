package channel

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway/outbound"
)

// Default MDN deadlines of the Direct delivery notification guide as the
// gateway applies them.
const (
	DefaultProcessedWithin  = time.Hour
	DefaultDispatchedWithin = 24 * time.Hour
)

// Transport hands one sealed message to the receiving HISP; *smtpout.Sender
// implements it.
type Transport interface {
	Send(ctx context.Context, from string, to []string, msg []byte) (smtpout.Result, error)
}

// DiscoverFunc finds the certificates a Direct address publishes, such as
// (*certs.Discoverer).Discover.
type DiscoverFunc func(ctx context.Context, address string) ([]*x509.Certificate, error)

// Config wires a Channel. Domain, Keys, Trust and Transport are required.
type Config struct {
	// Domain is our Direct domain, e.g. "direct.clinic-a.example"; it names
	// our message ids and the default sender.
	Domain string
	// Domains lists further Direct domains of ours (organisations with
	// their own Direct domain); Domain is always one of ours.
	Domains []string
	// DefaultSender is the address we send from when the referring
	// organisation has no Direct address of its own; "referrals@"+Domain
	// when empty.
	DefaultSender string
	// Keys holds our signing (and decryption) identities.
	Keys *certs.Keyring
	// Trust holds the anchors a recipient certificate must chain to.
	Trust *certs.TrustStore
	// Discover finds certificates in DNS when a directory entry carries
	// none; when set it is asked first, as the Source "DNS".
	Discover DiscoverFunc
	// Sources are the further places certificates are discovered, asked
	// in order after Discover (DNS CERT, then LDAP, as the Applicability
	// Statement orders them). With neither, entries without a directory
	// certificate are unreachable.
	Sources []Source
	// AIA completes a recipient's chain through its certificates'
	// caIssuers links when the trust bundle lacks an intermediate; nil
	// means a fetcher over the outbound client (its address guard lifted
	// by AllowPrivateNetworks), unless NoAIA.
	AIA   *certs.AIAFetcher
	NoAIA bool
	// AllowPrivateNetworks lets the default AIA fetcher reach loopback and
	// private addresses (development only).
	AllowPrivateNetworks bool
	// DiscoveryTTL is how long a DNS discovery's answer is reused
	// (DefaultDiscoveryTTL when zero); DiscoveryFailTTL is how long a
	// failed lookup (timeout, server failure) is (DefaultDiscoveryFailTTL
	// when zero).
	DiscoveryTTL     time.Duration
	DiscoveryFailTTL time.Duration
	// Transport sends sealed messages.
	Transport Transport
	// CRLs fetches the revocation lists a recipient certificate's chain
	// names; nil means an HTTP fetcher behind a cache. A revoked recipient
	// is never encrypted for; an unreachable CRL makes the send temporary.
	CRLs smime.CRLFetcher
	// SkipRevocation turns the recipient CRL check off (tests only).
	SkipRevocation bool
	// ProcessedWithin is how long to wait for the processed MDN
	// (DefaultProcessedWithin when zero).
	ProcessedWithin time.Duration
	// DispatchedWithin is how long after the processed MDN to wait for the
	// dispatched one (DefaultDispatchedWithin when zero).
	DispatchedWithin time.Duration
	// NoFinalDelivery stops asking receivers for a dispatched MDN; by
	// default the gateway asks for one.
	NoFinalDelivery bool
	// Content is the content-encryption algorithm; the zero value is AES-256-CBC.
	Content smime.ContentAlgorithm
	// Now is the clock for certificate validity and message dates
	// (time.Now when nil).
	Now func() time.Time
	// Logger receives ids and reply codes only (discarded when nil).
	Logger *slog.Logger
}

// FinalDelivery reports whether messages ask for a dispatched MDN.
func (c *Config) FinalDelivery() bool { return !c.NoFinalDelivery }

// Ours reports whether addr is in one of our Direct domains.
func (c *Config) Ours(addr string) bool { return slices.Contains(c.Domains, Domain(addr)) }

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	var errs []error
	if cfg.Domain == "" {
		errs = append(errs, errors.New("domain is required"))
	}
	if cfg.Keys == nil {
		errs = append(errs, errors.New("keyring is required"))
	}
	if cfg.Trust == nil {
		errs = append(errs, errors.New("trust store is required"))
	}
	if cfg.Transport == nil {
		errs = append(errs, errors.New("transport is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("direct channel: config: %w", err)
	}
	cfg.Domain = strings.ToLower(strings.TrimSuffix(cfg.Domain, "."))
	domains := []string{cfg.Domain}
	for _, d := range cfg.Domains {
		if d = strings.ToLower(strings.TrimSuffix(d, ".")); d != "" && !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	cfg.Domains = domains
	if cfg.DefaultSender == "" {
		cfg.DefaultSender = "referrals@" + cfg.Domain
	}
	if cfg.ProcessedWithin <= 0 {
		cfg.ProcessedWithin = DefaultProcessedWithin
	}
	if cfg.DiscoveryTTL <= 0 {
		cfg.DiscoveryTTL = DefaultDiscoveryTTL
	}
	if cfg.DiscoveryFailTTL <= 0 {
		cfg.DiscoveryFailTTL = DefaultDiscoveryFailTTL
	}
	if cfg.DispatchedWithin <= 0 {
		cfg.DispatchedWithin = DefaultDispatchedWithin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Discover != nil {
		cfg.Sources = append([]Source{DNSSource("DNS", cfg.Discover)}, cfg.Sources...)
	}
	if cfg.AIA == nil && !cfg.NoAIA {
		cfg.AIA = &certs.AIAFetcher{Now: cfg.Now, Client: outbound.NewClient(outbound.Config{
			Timeout: certs.DefaultAIATimeout, AllowPrivate: cfg.AllowPrivateNetworks})}
	}
	if cfg.NoAIA {
		cfg.AIA = nil
	}
	if cfg.CRLs == nil && !cfg.SkipRevocation {
		cfg.CRLs = smime.NewCRLCache(&smime.HTTPCRLFetcher{}, cfg.Now)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}
