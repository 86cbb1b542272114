package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
)

// certsCheck prints what certificate discovery finds for a Direct address,
// each candidate's chain, anchor and revocation status, and the verdict the
// channel would reach before encrypting for it, with the exact reason for
// a refusal. It builds the channel as `serve` does. Exit 0: a usable
// certificate; 3: none.
func certsCheck(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("certs check", &cfg, stderr, dataFlag, routeFlags)
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 1 {
		return usagef("certs check takes one Direct address")
	}
	addr := fs.Args()[0]
	if err := gateway.ValidateDirectAddress(addr); err != nil {
		return usagef("%q: %v", addr, err)
	}
	ec := cfg.Edges
	if ec.DirectDomain == "" || ec.DirectCerts == "" {
		return usagef("--direct-domain and --direct-certs (or GATEWAY_DIRECT_DOMAIN, GATEWAY_DIRECT_CERTS) name our trust anchors")
	}
	if ec.DNSServer == "" {
		return usagef("--dns (or GATEWAY_DNS) names the DNS server to discover certificates with")
	}
	keys, trust, _, err := loadDirectCerts(ec.DirectCerts)
	if err != nil {
		return err
	}
	snd, err := smtpout.New(smtpout.Config{Smarthost: ec.Smarthost, HELO: "gw." + ec.DirectDomain})
	if err != nil {
		return err
	}
	defer snd.Close()
	ch, err := channel.New(directChannelConfig(ec, keys, trust, snd, nil))
	if err != nil {
		return err
	}
	found, err := ch.Config().Discover(ctx, addr)
	switch {
	case errors.Is(err, certs.ErrNotDiscovered):
		fmt.Fprintf(stdout, "discovery: no certificate published for %s or its domain\n", addr)
		return &gateway.RoutingError{ReceiverID: addr, Reasons: []string{"Direct: no certificate published"}}
	case err != nil:
		return fmt.Errorf("discovery for %s: %w", addr, err)
	}
	fmt.Fprintf(stdout, "discovery: %d certificate(s) for %s (DNS CERT via %s; address-bound first)\n", len(found), addr, ec.DNSServer)
	var usable *x509.Certificate
	for i, c := range found {
		fmt.Fprintf(stdout, "\n[%d] %s\n", i+1, describeCert(c, addr))
		if c.IsCA {
			fmt.Fprintln(stdout, "    verdict: skipped (a CA certificate, usable as an intermediate only)")
			continue
		}
		chain, err := ch.RecipientChain(c, addr, found...)
		if err != nil {
			fmt.Fprintf(stdout, "    verdict: refused: %v\n", err)
			continue
		}
		for j, link := range chain[1:] {
			role := "intermediate"
			if j == len(chain)-2 {
				role = "anchor"
			}
			fmt.Fprintf(stdout, "    %-12s %s\n", role, link.Subject.CommonName)
		}
		switch err := ch.CheckRevoked(ctx, c, addr, found...); {
		case err == nil && len(c.CRLDistributionPoints) == 0:
			fmt.Fprintln(stdout, "    revocation: not checked (the certificate names no CRL distribution point)")
		case err == nil:
			fmt.Fprintf(stdout, "    revocation: good (CRL %s)\n", strings.Join(c.CRLDistributionPoints, ", "))
		default:
			fmt.Fprintf(stdout, "    revocation: %v\n    verdict: refused\n", err)
			continue
		}
		fmt.Fprintln(stdout, "    verdict: usable")
		if usable == nil {
			usable = c
		}
	}
	if usable == nil {
		return &gateway.RoutingError{ReceiverID: addr, Reasons: []string{"Direct: no usable certificate (see the verdicts above)"}}
	}
	fmt.Fprintf(stdout, "\nresult: Direct messages to %s would be encrypted for %q\n", addr, usable.Subject.CommonName)
	return nil
}

// describeCert is one line about a certificate: subject, binding, key and
// validity.
func describeCert(c *x509.Certificate, addr string) string {
	bound := "bound to neither " + addr + " nor its domain"
	switch {
	case containsFold(c.EmailAddresses, addr):
		bound = "address-bound"
	case channel.BoundTo(c, addr):
		bound = "domain-bound"
	}
	key := fmt.Sprintf("%T", c.PublicKey)
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		key = fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		key = "EC " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%s (%s, %s, issued by %s, valid %s to %s)", c.Subject.CommonName, bound, key, c.Issuer.CommonName,
		c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly))
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
