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
	if ec.TrustBundle != "" { // the anchors serve trusts, bundle included
		if _, err := trustBundle(ec, trust, nil).Refresh(ctx); err != nil {
			return fmt.Errorf("direct: %w", err)
		}
	}
	snd, err := smtpout.New(smtpout.Config{Smarthost: ec.Smarthost, HELO: "gw." + ec.DirectDomain, AllowPrivate: ec.privateNetworksOK()})
	if err != nil {
		return err
	}
	defer snd.Close()
	ch, err := channel.New(directChannelConfig(ec, keys, trust, snd, nil))
	if err != nil {
		return err
	}
	var chosen *channel.Candidate
	pinned := pinnedFor(ctx, cfg, addr, stdout)
	if pinned != nil {
		fmt.Fprintf(stdout, "directory: entry %s pins a certificate for %s; sends use it and discovery is not consulted for them\n", pinned.ID, addr)
		res := ch.Pinned(ctx, pinned)
		printSource(stdout, addr, res)
		for i := range res.Candidates {
			if res.Candidates[i].Err == nil {
				chosen = &res.Candidates[i]
				break
			}
		}
		fmt.Fprintln(stdout, "what discovery would find:")
	}
	d := ch.Discover(ctx, addr)
	for _, src := range d.Sources {
		printSource(stdout, addr, src)
	}
	if pinned == nil {
		chosen = d.Chosen
	}
	if chosen == nil {
		reason := "Direct: no usable certificate (see the verdicts above)"
		if pinned == nil && len(d.Sources) > 0 && allNotDiscovered(d.Sources) {
			reason = "Direct: no certificate published (DNS CERT or LDAP)"
		}
		return &gateway.RoutingError{ReceiverID: addr, Reasons: []string{reason}}
	}
	fmt.Fprintf(stdout, "result: Direct messages to %s would be encrypted for %q (from %s)\n", addr, chosen.Cert.Subject.CommonName, chosen.Origin)
	return nil
}

// pinnedFor returns the directory entry that pins a certificate for addr,
// or nil; a directory that cannot be opened is said and skipped.
func pinnedFor(ctx context.Context, cfg Config, addr string, stdout io.Writer) *gateway.Entry {
	a, err := openApp(ctx, cfg, io.Discard, io.Discard)
	if err != nil {
		fmt.Fprintf(stdout, "directory: not consulted (%v)\n", err)
		return nil
	}
	defer a.Close()
	list, err := a.svc.EntriesWithDirectAddress(ctx, addr)
	if err != nil {
		fmt.Fprintf(stdout, "directory: not consulted (%v)\n", err)
		return nil
	}
	for _, e := range list {
		if e.Direct != nil && strings.EqualFold(strings.TrimSpace(e.Direct.Address), addr) && e.Direct.CertPEM != "" {
			return e
		}
	}
	return nil
}

// printSource prints what one source yielded and the verdict on each
// certificate: where it came from, its chain with the intermediates
// fetched through AIA marked, its revocation status.
func printSource(stdout io.Writer, addr string, src channel.SourceResult) {
	switch {
	case errors.Is(src.Err, certs.ErrNotDiscovered):
		fmt.Fprintf(stdout, "discovery: %s: no certificate published for %s or its domain (%v)\n", src.Name, addr, src.Err)
		return
	case src.Err != nil:
		fmt.Fprintf(stdout, "discovery: %s: failed: %v\n", src.Name, src.Err)
		return
	}
	fmt.Fprintf(stdout, "discovery: %s: %d certificate(s) for %s (address-bound first)\n", src.Name, len(src.Candidates), addr)
	for i, c := range src.Candidates {
		fmt.Fprintf(stdout, "\n[%d] %s\n    from: %s\n", i+1, describeCert(c.Cert, addr), c.Origin)
		if c.Chain == nil {
			fmt.Fprintf(stdout, "    verdict: refused: %v\n", c.Err)
			continue
		}
		for j, link := range c.Chain[1:] {
			role := "intermediate"
			if j == len(c.Chain)-2 {
				role = "anchor"
			}
			via := ""
			for _, x := range c.ViaAIA {
				if x.Equal(link) {
					via = " (fetched via AIA " + strings.Join(c.Chain[j].IssuingCertificateURL, ", ") + ")"
				}
			}
			fmt.Fprintf(stdout, "    %-12s %s%s\n", role, link.Subject.CommonName, via)
		}
		fmt.Fprintf(stdout, "    revocation: %s\n", c.Revocation)
		if c.Err != nil {
			fmt.Fprintf(stdout, "    verdict: refused: %v\n", c.Err)
			continue
		}
		fmt.Fprintln(stdout, "    verdict: usable")
	}
	fmt.Fprintln(stdout)
}

// allNotDiscovered reports whether every source said it holds nothing.
func allNotDiscovered(list []channel.SourceResult) bool {
	for _, s := range list {
		if !errors.Is(s.Err, certs.ErrNotDiscovered) {
			return false
		}
	}
	return true
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
