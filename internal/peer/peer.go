// Package peer names the network client that the edges' per-client limits
// count against. It owns nothing else: no limits, no state.
package peer

import (
	"net"
	"net/netip"
)

// Key is what a per-client limit counts a peer under, given its address
// with or without a port ("192.0.2.7", "[2001:db8::1]:25"): an IPv4
// address as it is, an IPv6 address as the /64 it is in, since one site is
// given a whole /64 (or more) and could otherwise take a fresh share of a
// limit from each of its addresses. An IPv4-mapped IPv6 address counts as
// the IPv4 address; anything that is not an address is returned as given.
func Key(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip.WithZone(""), 64).Masked().String()
}
