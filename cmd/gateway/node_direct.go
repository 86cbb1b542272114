package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/smtpin"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway/outbound"
)

// directEdge is a node's Direct face: the channel that sends, and (once
// the core exists) the SMTP listener that stores into the database and
// the processor the core runs as jobs.
type directEdge struct {
	ch        *channel.Channel
	sender    *smtpout.Sender
	smtp      *smtpin.Server
	proc      *inbound.Processor
	serverTLS *tls.Config
	keys      *certs.Keyring
	domain    string
	names     []string
	bodies    string              // where message bodies arrive (unlinked files)
	bundle    *certs.BundleSource // nil: no trust bundle configured
	ec        edgeConfig
}

// loadDirectCerts reads a certificate directory: ca.pem and anchors/*.pem
// are trust anchors; every other <name>.pem with <name>-key.pem is one of
// our identities.
func loadDirectCerts(dir string) (*certs.Keyring, *certs.TrustStore, []string, error) {
	var anchors []*x509.Certificate
	paths := []string{filepath.Join(dir, "ca.pem")}
	more, _ := filepath.Glob(filepath.Join(dir, "anchors", "*.pem"))
	for _, p := range append(paths, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("direct certs: trust anchor: %w", err)
		}
		cs, err := certs.DecodeCertsPEM(b)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("direct certs: trust anchor %s: %w", p, err)
		}
		anchors = append(anchors, cs...)
	}
	trust, err := certs.NewTrustStore(anchors...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("direct certs: %w", err)
	}
	keys := certs.NewKeyring()
	files, err := filepath.Glob(filepath.Join(dir, "*-key.pem"))
	if err != nil {
		return nil, nil, nil, err
	}
	var names []string
	for _, kf := range files {
		name := strings.TrimSuffix(filepath.Base(kf), "-key.pem")
		if name == "ca" {
			continue
		}
		certPEM, err := os.ReadFile(filepath.Join(dir, name+".pem"))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("direct certs: identity %s: %w", name, err)
		}
		keyPEM, err := os.ReadFile(kf)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("direct certs: identity %s: %w", name, err)
		}
		id, err := certs.LoadIdentityPEM(certPEM, keyPEM)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("direct certs: identity %s: %w", name, err)
		}
		if err := keys.Add(id); err != nil {
			return nil, nil, nil, fmt.Errorf("direct certs: identity %s: %w", name, err)
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, nil, nil, fmt.Errorf("direct certs: no identity (<name>.pem with <name>-key.pem) in %s", dir)
	}
	return keys, trust, names, nil
}

// trustBundle is the source of the P7B trust bundle ec names. A URL is
// supplied by the operator and often points at a third party
// (DirectTrust): it is fetched through the outbound client and its
// address guard, like AIA and CRL fetches (--allow-private-networks lifts
// the guard in development), redirects included, within the bundle's time
// and size bounds.
func trustBundle(ec edgeConfig, trust *certs.TrustStore, log *slog.Logger) *certs.BundleSource {
	return &certs.BundleSource{Location: ec.TrustBundle, Store: trust, Logger: log,
		Client: outbound.NewClient(outbound.Config{Timeout: certs.BundleTimeout, AllowPrivate: ec.privateNetworksOK()})}
}

// directChannelConfig is the Direct channel's configuration from the edge
// settings: `serve` and every one-shot command that routes or sends build
// their channel with it, so they discover and check certificates alike
// (GATEWAY_DNS included).
func directChannelConfig(ec edgeConfig, keys *certs.Keyring, trust *certs.TrustStore, transport channel.Transport, log *slog.Logger) channel.Config {
	ccfg := channel.Config{Domain: ec.DirectDomain, Keys: keys, Trust: trust, Transport: transport, Logger: log,
		AllowPrivateNetworks: ec.privateNetworksOK(), DiscoveryTTL: ec.DiscoveryTTL,
		ProcessedWithin: ec.ProcessedWithin, DispatchedWithin: ec.DispatchedWithin,
		AIA: &certs.AIAFetcher{TTL: ec.AIATTL, Client: outbound.NewClient(outbound.Config{
			Timeout: certs.DefaultAIATimeout, AllowPrivate: ec.privateNetworksOK()})}}
	if ec.DNSServer != "" {
		// DNS CERT first, then the LDAP directory the domain's SRV
		// records name, as the Applicability Statement orders them.
		d := &certs.Discoverer{Server: ec.DNSServer}
		ccfg.Sources = []channel.Source{{Name: "DNS CERT", Find: d.Find}}
		if !ec.NoLDAP {
			l := &certs.LDAPDiscoverer{DNS: d, Timeout: ec.LDAPTimeout}
			if !ec.privateNetworksOK() {
				l.CheckAddr = func(a netip.Addr) error {
					if !outbound.Public(a) {
						return fmt.Errorf("LDAP server address %s is not public (--allow-private-networks lifts this in development)", a)
					}
					return nil
				}
			}
			ccfg.Sources = append(ccfg.Sources, channel.Source{Name: "LDAP", Find: l.Find})
		}
	}
	return ccfg
}

// newDirectEdge builds the Direct channel and SMTP listener of a node.
func newDirectEdge(ec edgeConfig, dataDir string, wrap func(channel.Transport) channel.Transport, log *slog.Logger, now time.Time) (*directEdge, error) {
	keys, trust, names, err := loadDirectCerts(ec.DirectCerts)
	if err != nil {
		return nil, err
	}
	outTLS := &tls.Config{InsecureSkipVerify: ec.SMTPTLSInsecure} //nolint:gosec // dev-only flag, documented
	if ec.SMTPTLSRoots != "" {
		b, err := os.ReadFile(ec.SMTPTLSRoots)
		if err != nil {
			return nil, fmt.Errorf("direct: smtp tls roots: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("direct: smtp tls roots: no certificate in %s", ec.SMTPTLSRoots)
		}
		outTLS.RootCAs = pool
	}
	sender, err := smtpout.New(smtpout.Config{Smarthost: ec.Smarthost, HELO: "gw." + ec.DirectDomain, TLSConfig: outTLS,
		AllowPrivate: ec.privateNetworksOK()})
	if err != nil {
		return nil, fmt.Errorf("direct: smtp out: %w", err)
	}
	var transport channel.Transport = sender
	if wrap != nil {
		transport = wrap(sender)
	}
	var bundle *certs.BundleSource
	if ec.TrustBundle != "" {
		bundle = trustBundle(ec, trust, log)
		if _, err := bundle.Refresh(context.Background()); err != nil {
			_ = sender.Close()
			return nil, fmt.Errorf("direct: %w", err)
		}
	}
	ch, err := channel.New(directChannelConfig(ec, keys, trust, transport, log))
	if err != nil {
		_ = sender.Close()
		return nil, fmt.Errorf("direct: %w", err)
	}
	var serverCert tls.Certificate
	if ec.SMTPTLSCert != "" {
		serverCert, err = tls.LoadX509KeyPair(ec.SMTPTLSCert, ec.SMTPTLSKey)
	} else {
		host, _, _ := net.SplitHostPort(ec.SMTPAddr)
		if host == "" {
			host = "localhost"
		}
		serverCert, err = certs.SelfSignedTLS(now, host)
	}
	if err != nil {
		_ = sender.Close()
		return nil, fmt.Errorf("direct: smtp tls certificate: %w", err)
	}
	// Message bodies arrive into unlinked files beside the database,
	// never into memory or a shared temporary directory.
	bodies := filepath.Join(dataDir, "direct", "incoming")
	if err := os.MkdirAll(bodies, 0o700); err != nil {
		_ = sender.Close()
		return nil, fmt.Errorf("direct: smtp in: %w", err)
	}
	return &directEdge{ch: ch, sender: sender, serverTLS: &tls.Config{Certificates: []tls.Certificate{serverCert}},
		keys: keys, domain: ec.DirectDomain, names: names, bodies: bodies, ec: ec, bundle: bundle}, nil
}

// attach wires the edge to the core: the inbound processor (registered as
// the core's handler of Direct mail) and the SMTP listener that stores
// accepted mail with its processing job before answering 250.
func (d *directEdge) attach(svc *gateway.Service, log *slog.Logger) error {
	var err error
	if d.proc, err = inbound.New(inbound.Config{Service: svc, Channel: d.ch, Logger: log,
		AllowPrivateNetworks: d.ec.privateNetworksOK(), RevocationPolicy: inbound.RevocationPolicy(d.ec.RevocationPolicy),
		RevocationRetryFor: d.ec.RevocationRetryFor}); err != nil {
		return fmt.Errorf("direct inbound: %w", err)
	}
	d.smtp, err = smtpin.New(smtpin.Config{Hostname: "mx." + d.domain, Domains: []string{d.domain}, Spool: inbound.NewReceiver(svc),
		Mailboxes: d.proc.Mailboxes(), TLSConfig: d.serverTLS, RequireTLS: true, Logger: log,
		TempDir: d.bodies, MaxMessageBytes: int64(d.ec.SMTPMaxMessageMB) << 20,
		MaxConnections: d.ec.SMTPMaxSessions, MaxConnectionsPerAddr: d.ec.SMTPMaxSessionsPerAddr,
		ReceiveBudget: int64(d.ec.SMTPReceiveBudgetMB) << 20})
	if err != nil {
		return fmt.Errorf("direct: smtp in: %w", err)
	}
	return nil
}
