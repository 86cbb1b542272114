package httpedge

import (
	"context"
	"crypto/tls"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/referralgw/gateway/internal/peer"
	"github.com/referralgw/gateway/internal/quietlog"
)

// Limits are the server's bounds. The zero value of a field means its
// default.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading a whole request, body included: a client
	// that trickles its body is cut off when it runs out (default 2m,
	// enough for a 20 MB upload at about 200 kB/s).
	BodyTimeout time.Duration
	// WriteTimeout bounds writing a response (default 2m).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request (default 1m).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers (default 64 KiB).
	MaxHeaderBytes int
	// MaxConns caps open connections; beyond it requests are answered 503
	// and the connection closed (default 1024). Beyond twice the cap,
	// connections are closed on accept without an answer.
	MaxConns int
	// MaxConnsPerAddr caps open connections from one client address (one
	// /64 for IPv6, as for MaxInFlightPerAddr);
	// beyond it requests are answered 429 (default 64).
	MaxConnsPerAddr int
	// MaxInFlightPerAddr caps requests being served at once for one
	// client address, over all its connections (default 32).
	MaxInFlightPerAddr int
	// RetryAfter is the Retry-After of those answers (default 5s).
	RetryAfter time.Duration
	// Refuse writes the body of a refusal (429 or 503) once its
	// Retry-After and Cache-Control are set, so that an API can answer in
	// its own error format; nil writes the reason as plain text.
	Refuse func(w http.ResponseWriter, r *http.Request, status int, reason string)
	// Log receives the server's own errors, such as TLS handshakes that
	// fail, at most 5 lines a second (default slog.Default()): any client
	// can cause one per connection.
	Log *slog.Logger
}

func (l *Limits) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, 10*time.Second)
	def(&l.BodyTimeout, 2*time.Minute)
	def(&l.WriteTimeout, 2*time.Minute)
	def(&l.IdleTimeout, time.Minute)
	def(&l.RetryAfter, 5*time.Second)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxConns <= 0 {
		l.MaxConns = 1024
	}
	if l.MaxConnsPerAddr <= 0 {
		l.MaxConnsPerAddr = 64
	}
	if l.MaxInFlightPerAddr <= 0 {
		l.MaxInFlightPerAddr = 32
	}
	if l.Log == nil {
		l.Log = slog.Default()
	}
}

// Edge applies Limits to a listener and a handler. Use one Edge for one
// server: Listener and Server share its counts.
type Edge struct {
	lim Limits

	mu       sync.Mutex
	conns    int
	byAddr   map[string]int
	inFlight map[string]int
}

// New returns an Edge with lim's defaults filled in.
func New(lim Limits) *Edge {
	lim.fill()
	return &Edge{lim: lim, byAddr: map[string]int{}, inFlight: map[string]int{}}
}

// Limits returns the limits in force, defaults included.
func (e *Edge) Limits() Limits { return e.lim }

// Server returns an http.Server with the timeouts set that serves h behind
// the caps and the security headers. Serve it on e.Listener(l), or for
// HTTPS on tls.NewListener(e.Listener(l), cfg).
func (e *Edge) Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           SecurityHeaders(e.guard(h)),
		ReadHeaderTimeout: e.lim.ReadHeaderTimeout,
		ReadTimeout:       e.lim.BodyTimeout,
		WriteTimeout:      e.lim.WriteTimeout,
		IdleTimeout:       e.lim.IdleTimeout,
		MaxHeaderBytes:    e.lim.MaxHeaderBytes,
		ErrorLog:          log.New(quietlog.New(e.lim.Log, nil).Writer("http server"), "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok { // served on tls.NewListener(e.Listener(l), ...)
				c = tc.NetConn()
			}
			if ec, ok := c.(*edgeConn); ok && ec.over != 0 {
				return context.WithValue(ctx, overKey{}, ec.over)
			}
			return ctx
		},
	}
}

// Listener counts l's connections against the caps.
func (e *Edge) Listener(l net.Listener) net.Listener { return &edgeListener{Listener: l, e: e} }

type overKey struct{}

// over says which cap a connection went over; its requests are refused.
type over int

const (
	overNone    over = iota
	overServer       // MaxConns: 503
	overAddress      // MaxConnsPerAddr: 429
)

type edgeListener struct {
	net.Listener
	e *Edge
}

func (l *edgeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		o, ok := l.e.open(addr)
		if !ok {
			_ = c.Close() // far beyond the cap: not even an answer
			continue
		}
		return &edgeConn{Conn: c, over: o, release: func() { l.e.close(addr) }}, nil
	}
}

// open counts a new connection from addr and says whether it is over a
// cap, or refused outright.
func (e *Edge) open(addr string) (over, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns >= 2*e.lim.MaxConns {
		return overNone, false
	}
	e.conns++
	e.byAddr[addr]++
	switch {
	case e.conns > e.lim.MaxConns:
		return overServer, true
	case e.byAddr[addr] > e.lim.MaxConnsPerAddr:
		return overAddress, true
	}
	return overNone, true
}

func (e *Edge) close(addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.conns--
	if e.byAddr[addr]--; e.byAddr[addr] <= 0 {
		delete(e.byAddr, addr)
	}
}

// edgeConn gives its count back once, when closed.
type edgeConn struct {
	net.Conn
	over    over
	once    sync.Once
	release func()
}

func (c *edgeConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// guard refuses the requests of connections over a cap, and requests
// over the in-flight cap of their address.
func (e *Edge) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch o, _ := r.Context().Value(overKey{}).(over); o {
		case overServer:
			w.Header().Set("Connection", "close")
			e.refuse(w, r, http.StatusServiceUnavailable, "the server is busy; try again later")
			return
		case overAddress:
			w.Header().Set("Connection", "close")
			e.refuse(w, r, http.StatusTooManyRequests, "too many connections from your address; try again later")
			return
		}
		addr := clientAddr(r)
		if !e.enter(addr) {
			e.refuse(w, r, http.StatusTooManyRequests, "too many requests in progress from your address; try again later")
			return
		}
		defer e.leave(addr)
		next.ServeHTTP(w, r)
	})
}

func (e *Edge) enter(addr string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inFlight[addr] >= e.lim.MaxInFlightPerAddr {
		return false
	}
	e.inFlight[addr]++
	return true
}

func (e *Edge) leave(addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inFlight[addr]--; e.inFlight[addr] <= 0 {
		delete(e.inFlight, addr)
	}
}

// refuse answers a capped request with Retry-After, in Limits.Refuse's
// format or as plain text.
func (e *Edge) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	secs := int((e.lim.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Cache-Control", "no-store")
	if e.lim.Refuse != nil {
		e.lim.Refuse(w, r, status, msg)
		return
	}
	http.Error(w, msg, status)
}

// hostOf is the client a connection counts against (see peer.Key).
func hostOf(a net.Addr) string { return peer.Key(a.String()) }

// clientAddr is the client a request counts against (see peer.Key).
func clientAddr(r *http.Request) string { return peer.Key(r.RemoteAddr) }
