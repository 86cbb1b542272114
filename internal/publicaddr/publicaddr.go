// Package publicaddr says whether an address is one an outbound
// connection may reach without an explicit allowance: the egress rule of
// the gateway's HTTP clients (gateway/outbound) and of its SMTP client
// (direct/smtpout), kept in one place so the two guards cannot drift.
package publicaddr

import "net/netip"

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

// Public reports whether a is a global unicast address outside every
// private, shared, reserved and documentation range (an IPv4-mapped IPv6
// address is judged as its IPv4 address).
func Public(a netip.Addr) bool {
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
