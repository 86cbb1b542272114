package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/miekg/dns"
)

// Default bounds of an LDAP discovery.
const (
	DefaultLDAPConnectTimeout = 3 * time.Second
	DefaultLDAPTimeout        = 5 * time.Second
	DefaultLDAPMaxServers     = 4
	maxLDAPEntries            = 20
	maxLDAPCerts              = 20
)

// LDAPDiscoverer finds a Direct partner's certificates in the LDAP
// directory its domain names with SRV records (_ldap._tcp.<domain>), the
// second discovery method of the Direct Applicability Statement.
type LDAPDiscoverer struct {
	// DNS resolves the SRV record and the servers' addresses; its Server is
	// the resolver asked.
	DNS *Discoverer
	// ConnectTimeout bounds each TCP connect (DefaultLDAPConnectTimeout
	// when zero); Timeout bounds everything said with one server after
	// that, so a server that accepts and never answers is left
	// (DefaultLDAPTimeout when zero).
	ConnectTimeout, Timeout time.Duration
	// MaxServers is how many of the SRV targets are tried at most
	// (DefaultLDAPMaxServers when zero).
	MaxServers int
	// CheckAddr, when set, vets each server address before connecting (the
	// outbound address guard); a refused address counts as a dead server.
	CheckAddr func(netip.Addr) error
	// Rand returns a uniform integer in [0, n) for the weighted order of
	// RFC 2782; nil means math/rand/v2.
	Rand func(n int) int
}

// Find returns the certificates the partner's LDAP directory holds for
// address: those of entries whose mail is the address (address-bound)
// first, then those whose mail is the domain (domain-bound), each with the
// server it came from. Servers are tried in RFC 2782 order; one that cannot
// be reached or does not answer in time is skipped for the next. The first
// server that answers decides. ErrNotDiscovered when the domain has no SRV
// record or the directory holds no certificate; an error naming every
// server when none answered. Certificates are returned as published: the
// caller judges validity, binding, trust and revocation.
func (l *LDAPDiscoverer) Find(ctx context.Context, address string) ([]Found, error) {
	_, domain, ok := splitAddress(address)
	if !ok {
		return nil, fmt.Errorf("certs: ldap discover %q: not an address", address)
	}
	if l.DNS == nil {
		return nil, errors.New("certs: ldap discover: no DNS resolver configured")
	}
	srvName := "_ldap._tcp." + domain
	resp, err := l.DNS.query(ctx, srvName, dns.TypeSRV)
	if err != nil {
		return nil, fmt.Errorf("certs: ldap discover %q: SRV %w", address, err)
	}
	var srvs []*dns.SRV
	for _, rr := range resp.Answer {
		if s, ok := rr.(*dns.SRV); ok && s.Target != "." {
			srvs = append(srvs, s)
		}
	}
	if len(srvs) == 0 {
		return nil, fmt.Errorf("certs: ldap discover %q: no SRV record at %s: %w", address, srvName, ErrNotDiscovered)
	}
	maxServers := l.MaxServers
	if maxServers <= 0 {
		maxServers = DefaultLDAPMaxServers
	}
	order := OrderSRV(srvs, l.Rand)
	var failures []string
	for _, s := range order[:min(len(order), maxServers)] {
		host := strings.TrimSuffix(s.Target, ".")
		hostPort := net.JoinHostPort(host, strconv.Itoa(int(s.Port)))
		found, err := l.askServer(ctx, host, s.Port, address, domain)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("certs: ldap discover %q: %w", address, ctx.Err())
			}
			failures = append(failures, fmt.Sprintf("%s: %v", hostPort, err))
			continue
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("certs: ldap discover %q: %s holds no certificate for the address or its domain: %w",
				address, hostPort, ErrNotDiscovered)
		}
		return found, nil
	}
	return nil, fmt.Errorf("certs: ldap discover %q: no LDAP server answered: %s", address, strings.Join(failures, "; "))
}

// OrderSRV sorts SRV records as RFC 2782 says clients must try them: by
// priority, lowest first, and within one priority by repeated weighted
// random selection (records of weight zero first, so they are chosen only
// rarely). rnd returns a uniform integer in [0, n); nil means math/rand/v2.
func OrderSRV(records []*dns.SRV, rnd func(n int) int) []*dns.SRV {
	if rnd == nil {
		rnd = rand.IntN
	}
	byPrio := slices.Clone(records)
	slices.SortStableFunc(byPrio, func(a, b *dns.SRV) int { return int(a.Priority) - int(b.Priority) })
	out := make([]*dns.SRV, 0, len(records))
	for len(byPrio) > 0 {
		n := 1
		for n < len(byPrio) && byPrio[n].Priority == byPrio[0].Priority {
			n++
		}
		group := slices.Clone(byPrio[:n])
		byPrio = byPrio[n:]
		// Zero weights first, as the RFC arranges them.
		slices.SortStableFunc(group, func(a, b *dns.SRV) int {
			return boolInt(a.Weight != 0) - boolInt(b.Weight != 0)
		})
		for len(group) > 0 {
			sum := 0
			for _, s := range group {
				sum += int(s.Weight)
			}
			r := rnd(sum + 1) // uniform in [0, sum]
			run, pick := 0, len(group)-1
			for i, s := range group {
				run += int(s.Weight)
				if run >= r {
					pick = i
					break
				}
			}
			out = append(out, group[pick])
			group = slices.Delete(group, pick, pick+1)
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// askServer resolves one SRV target and asks the first of its addresses
// that accepts a connection.
func (l *LDAPDiscoverer) askServer(ctx context.Context, host string, port uint16, address, domain string) ([]Found, error) {
	addrs, err := l.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		if l.CheckAddr != nil {
			if err := l.CheckAddr(a); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", a, err))
				continue
			}
		}
		found, err := l.search(ctx, netip.AddrPortFrom(a, port), net.JoinHostPort(host, strconv.Itoa(int(port))), address, domain)
		if err == nil {
			return found, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// resolve returns host's IPv4 then IPv6 addresses from the DNS server
// (a literal address is taken as is).
func (l *LDAPDiscoverer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	var out []netip.Addr
	var lastErr error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, err := l.DNS.query(ctx, host, qt)
		if err != nil {
			lastErr = err
			continue
		}
		for _, rr := range resp.Answer {
			switch r := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(r.A.To4()); ok {
					out = append(out, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(r.AAAA); ok {
					out = append(out, a)
				}
			}
		}
	}
	if len(out) == 0 {
		if lastErr != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, lastErr)
		}
		return nil, fmt.Errorf("resolve %s: no address", host)
	}
	return out, nil
}

// search connects to one server, finds its naming contexts in the root DSE
// and looks for the address's entries, then the domain's, under each.
func (l *LDAPDiscoverer) search(ctx context.Context, ap netip.AddrPort, label, address, domain string) ([]Found, error) {
	connectTimeout, timeout := l.ConnectTimeout, l.Timeout
	if connectTimeout <= 0 {
		connectTimeout = DefaultLDAPConnectTimeout
	}
	if timeout <= 0 {
		timeout = DefaultLDAPTimeout
	}
	dialer := net.Dialer{Timeout: connectTimeout}
	raw, err := dialer.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The deadline ends any read from a server that never answers; a
	// cancelled caller closes the connection at once.
	_ = raw.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	conn := ldap.NewConn(raw, false)
	conn.Start()
	conn.SetTimeout(timeout)
	defer conn.Close()

	bases, err := namingContexts(conn, timeout)
	if err != nil {
		return nil, err
	}
	var out []Found
	for _, mail := range []string{address, domain} {
		for _, base := range bases {
			list, err := certificatesFor(conn, base, mail, timeout)
			if err != nil {
				return nil, err
			}
			for _, c := range list {
				if len(out) < maxLDAPCerts {
					out = append(out, Found{Cert: c, Origin: "LDAP " + label})
				}
			}
		}
	}
	return out, nil
}

// namingContexts reads the root DSE's namingContexts: the base DNs to
// search under.
func namingContexts(conn *ldap.Conn, timeout time.Duration) ([]string, error) {
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, seconds(timeout), false,
		"(objectClass=*)", []string{"namingContexts"}, nil)
	res, err := conn.Search(req)
	if err != nil {
		return nil, fmt.Errorf("read root DSE: %w", err)
	}
	var bases []string
	for _, e := range res.Entries {
		bases = append(bases, e.GetAttributeValues("namingContexts")...)
	}
	if len(bases) == 0 {
		return nil, errors.New("root DSE names no namingContexts")
	}
	return bases, nil
}

// certificatesFor returns the certificates (userCertificate, binary or
// not) of the entries under base whose mail is mail.
func certificatesFor(conn *ldap.Conn, base, mail string, timeout time.Duration) ([]*x509.Certificate, error) {
	filter := "(mail=" + ldap.EscapeFilter(mail) + ")"
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, maxLDAPEntries, seconds(timeout), false,
		filter, []string{"userCertificate", "userCertificate;binary"}, nil)
	res, err := conn.Search(req)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, fmt.Errorf("search %s under %q: %w", filter, base, err)
	}
	if res == nil {
		return nil, nil
	}
	var out []*x509.Certificate
	for _, e := range res.Entries {
		for _, a := range e.Attributes {
			name := strings.ToLower(a.Name)
			if name != "usercertificate" && !strings.HasPrefix(name, "usercertificate;") {
				continue
			}
			for _, der := range a.ByteValues {
				if c, err := x509.ParseCertificate(der); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out, nil
}

// seconds is a timeout as an LDAP time limit, at least one second.
func seconds(d time.Duration) int { return max(1, int(d/time.Second)) }
