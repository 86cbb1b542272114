package smtpout

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrNotPublic is returned (wrapped) when a mail host found by MX lookup
// resolves to a loopback, private, link-local or other non-public address:
// whoever answers DNS for a recipient's domain could otherwise point our
// mail, and the sealed referral in it, at a service inside our network.
// It is not temporary: the same answer would be refused again.
var ErrNotPublic = errors.New("mail host address is not public")

// checkPublic is the dialer's Control hook for mail hosts found by MX
// lookup. It runs on the address actually dialled, after any resolution,
// so a name that resolves (or re-resolves) to an internal address is
// refused too.
func checkPublic(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("smtpout: check %s: %w", address, err)
	}
	if !public(ap.Addr()) {
		return fmt.Errorf("smtpout: %s: %w", ap.Addr(), ErrNotPublic)
	}
	return nil
}

// nonPublic are ranges that IsGlobalUnicast and IsPrivate leave out:
// shared address space (RFC 6598), IETF protocol assignments, benchmarking,
// documentation, 6to4 relay, reserved, NAT64 and ULA.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fc00::/7"),
}

// public reports whether a is a global unicast address outside every
// private, shared, reserved and documentation range. It is the gateway's
// outbound.Public rule (the guard of its HTTP clients), kept here because a
// protocol package imports nothing of the gateway; the two are tested
// against the same table.
func public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
