package smtpout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Resolver is the DNS a Sender needs; *net.Resolver satisfies it.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// destination is one server to try: the name it is known by (for TLS
// verification and pooling), the host:port addresses to dial, and whether
// each address dialled must be public (a host named by DNS rather than by
// the operator).
type destination struct {
	host    string
	addrs   []string
	guarded bool
}

// destinations lists the servers for a message to rcpts, in order of
// preference.
func (s *Sender) destinations(ctx context.Context, rcpts []string) ([]destination, error) {
	if s.cfg.Smarthost != "" {
		host, _, err := net.SplitHostPort(s.cfg.Smarthost)
		if err != nil {
			return nil, fmt.Errorf("smtpout: smarthost %q: %w", s.cfg.Smarthost, err)
		}
		return []destination{{host: host, addrs: []string{s.cfg.Smarthost}}}, nil
	}
	domain, err := recipientDomain(rcpts)
	if err != nil {
		return nil, err
	}
	hosts, err := s.mxHosts(ctx, domain)
	if err != nil {
		return nil, err
	}
	var dests []destination
	var failed hostErrors
	for _, h := range hosts {
		ips, err := s.cfg.Resolver.LookupHost(ctx, h)
		if err != nil {
			failed.add(err)
			continue
		}
		d := destination{host: h, guarded: !s.cfg.AllowPrivate}
		for _, ip := range ips {
			d.addrs = append(d.addrs, net.JoinHostPort(ip, s.cfg.Port))
		}
		dests = append(dests, d)
	}
	if len(dests) == 0 {
		return nil, fmt.Errorf("smtpout: resolve mail hosts of %s: %w", domain, failed.err())
	}
	return dests, nil
}

// mxHosts returns the MX host names of domain by preference, or the domain
// itself when it has no MX records (RFC 5321 section 5.1 implicit MX).
func (s *Sender) mxHosts(ctx context.Context, domain string) ([]string, error) {
	mxs, err := s.cfg.Resolver.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(mxs) > 0:
	case err == nil, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return []string{domain}, nil
	default:
		return nil, fmt.Errorf("smtpout: lookup MX %s: %w", domain, err)
	}
	hosts := make([]string, 0, len(mxs))
	for _, mx := range mxs {
		h := strings.TrimSuffix(mx.Host, ".")
		if h == "" {
			// RFC 7505 null MX: the domain accepts no mail.
			return nil, fmt.Errorf("smtpout: %s publishes a null MX and accepts no mail", domain)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// recipientDomain returns the one domain all recipients share; a message
// routed by MX goes to one domain's servers.
func recipientDomain(rcpts []string) (string, error) {
	var domain string
	for _, r := range rcpts {
		_, d, ok := strings.Cut(r, "@")
		if !ok || d == "" {
			return "", fmt.Errorf("smtpout: recipient %q has no domain", r)
		}
		d = strings.ToLower(d)
		if domain != "" && d != domain {
			return "", errors.New("smtpout: recipients span more than one domain; send once per domain")
		}
		domain = d
	}
	return domain, nil
}
