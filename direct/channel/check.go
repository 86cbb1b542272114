package channel

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

var _ gateway.EndpointChecker = (*Channel)(nil)

// CheckEndpoint implements gateway.EndpointChecker for directory
// re-verification: it finds the party's certificate again (the
// directory's, or a fresh discovery that replaces the cached one), judges
// it (validity, key strength and usage, binding, chain to an anchor) and
// asks its CRLs. A revoked, expired, weak or unbound certificate, or none,
// fails the check; a lookup or CRL fetch that did not answer leaves it
// unknown. It does network I/O: never call it in a transaction.
func (c *Channel) CheckEndpoint(ctx context.Context, to *gateway.Entry) (gateway.CheckStatus, string) {
	if to.Direct == nil || strings.TrimSpace(to.Direct.Address) == "" {
		return gateway.CheckFailed, "no Direct address"
	}
	addr := to.Direct.Address
	if to.Direct.CertPEM != "" {
		list, err := certs.DecodeCertsPEM([]byte(to.Direct.CertPEM))
		if err != nil {
			return gateway.CheckFailed, fmt.Sprintf("directory certificate: %v", err)
		}
		cert, err := c.RecipientCert(ctx, to)
		if err != nil {
			return certStatus(err), err.Error()
		}
		what := "directory certificate " + cert.Subject.CommonName
		if c.cfg.SkipRevocation {
			return gateway.CheckOK, what + ", revocation not checked (revocation checking is off)"
		}
		return revocationStatus(c.CheckRevoked(ctx, cert, addr, list...), what)
	}
	if len(c.cfg.Sources) == 0 {
		return gateway.CheckFailed, "no certificate in the directory and discovery is not configured"
	}
	d := c.Discover(ctx, addr)
	if d.Chosen == nil {
		if errors.Is(d.err, errDiscovery) {
			return gateway.CheckUnknown, d.err.Error()
		}
		return gateway.CheckFailed, d.err.Error()
	}
	what := fmt.Sprintf("certificate %s from %s", d.Chosen.Cert.Subject.CommonName, d.Chosen.Origin)
	if d.Chosen.RevocationUnknown {
		return gateway.CheckUnknown, what + ", revocation " + d.Chosen.Revocation
	}
	return gateway.CheckOK, what + ", revocation " + d.Chosen.Revocation
}

// certStatus classifies why no certificate could be used.
func certStatus(err error) gateway.CheckStatus {
	if errors.Is(err, gateway.ErrNotResolved) || errors.Is(err, errDiscovery) {
		return gateway.CheckUnknown
	}
	return gateway.CheckFailed
}

// revocationStatus classifies a CheckRevoked answer about what.
func revocationStatus(err error, what string) (gateway.CheckStatus, string) {
	switch {
	case err == nil:
		return gateway.CheckOK, what + ", not revoked"
	case errors.Is(err, ErrRecipientRevoked):
		return gateway.CheckFailed, what + ": " + err.Error()
	case errors.Is(err, smime.ErrRevocationUnknown):
		return gateway.CheckUnknown, what + ": " + err.Error()
	default:
		return gateway.CheckFailed, what + ": " + err.Error()
	}
}
