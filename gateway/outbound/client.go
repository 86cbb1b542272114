package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/referralgw/gateway/internal/publicaddr"
)

// ErrNotPublic is the cause of a refused connection to a non-public address.
var ErrNotPublic = errors.New("outbound: destination address is not public")

// Config describes a client. The zero value is the production client.
type Config struct {
	// Timeout bounds a whole request, body included (default 30s).
	Timeout time.Duration
	// DialTimeout bounds connecting, TLSHandshakeTimeout the handshake,
	// and ResponseHeaderTimeout the wait for the answer's headers after
	// the request is sent (defaults 10s, 10s and Timeout).
	DialTimeout, TLSHandshakeTimeout, ResponseHeaderTimeout time.Duration
	// AllowPrivate lets every request reach non-public addresses: for
	// development and tests on loopback only.
	AllowPrivate bool
	// NoRedirects returns redirects to the caller instead of following
	// them; otherwise up to 3 are followed, each through the same guard,
	// and never from https to http.
	NoRedirects bool
	// TLSConfig is cloned for the client; TLS 1.2 is the floor regardless.
	TLSConfig *tls.Config
}

type allowKey struct{}

// AllowPrivate returns a context whose requests may reach non-public
// addresses: for a directory entry that an administrator marked as on a
// private network.
func AllowPrivate(ctx context.Context) context.Context {
	return context.WithValue(ctx, allowKey{}, true)
}

func allowed(ctx context.Context) bool { v, _ := ctx.Value(allowKey{}).(bool); return v }

// NewClient returns a client as cfg describes.
func NewClient(cfg Config) *http.Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = 10 * time.Second
	}
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = cfg.Timeout
	}
	tlsCfg := &tls.Config{}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	}
	tlsCfg.MinVersion = max(tlsCfg.MinVersion, tls.VersionTLS12)
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	if !cfg.AllowPrivate {
		d.ControlContext = guard
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	c := &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: checkRedirect}
	if cfg.NoRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// guard runs on the resolved address of every connection attempt.
func guard(ctx context.Context, network, address string, _ syscall.RawConn) error {
	if allowed(ctx) {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound: dial %s: %w", address, err)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("outbound: dial %s: %w", address, ErrNotPublic)
	}
	return nil
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("outbound: stopped after 3 redirects")
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("outbound: refused redirect from https to %s", req.URL.Scheme)
	}
	return nil
}

// Public reports whether a is a global unicast address outside every
// private, shared, reserved and documentation range: one that an outbound
// request may reach without an explicit allowance (internal/publicaddr,
// the rule the SMTP client's guard applies too).
func Public(a netip.Addr) bool { return publicaddr.Public(a) }
