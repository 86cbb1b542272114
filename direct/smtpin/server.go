package smtpin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/referralgw/gateway/internal/quietlog"
	"golang.org/x/sync/semaphore"
)

// Config configures a Server.
type Config struct {
	// Addr is the listen address for ListenAndServe, e.g. ":25".
	Addr string
	// Hostname is announced in the greeting.
	Hostname string
	// Domains are our Direct domains; RCPT is accepted only for these.
	Domains []string
	// Mailboxes, when set, must accept each recipient; nil accepts every
	// local part in Domains.
	Mailboxes Mailboxes
	// Spool receives every accepted message (required).
	Spool Spool
	// MaxMessageBytes caps DATA; larger messages get 552 5.3.4. The
	// default, 64 MiB, carries a 20 MB referral with imaging after base64
	// and S/MIME (each grows it by about a third).
	MaxMessageBytes int64
	// MaxRecipients caps RCPT per message; more get 452 4.5.3 (default 50).
	MaxRecipients int
	// MaxConnections caps concurrent sessions; more are greeted with 421
	// and closed (default 100).
	MaxConnections int
	// MaxConnectionsPerAddr caps concurrent sessions from one client IP
	// (from one /64 for IPv6), so one client cannot hold every slot
	// (default 20, what a busy MTA such as Postfix opens to one
	// destination by default).
	MaxConnectionsPerAddr int
	// IdleTimeout is the longest wait for the client's next bytes, between
	// commands and inside DATA alike (default 5m, RFC 5321 4.5.3.2).
	IdleTimeout time.Duration
	// MaxSessionDuration ends a session, however busy, this long after it
	// was accepted (default 30m).
	MaxSessionDuration time.Duration
	// WriteTimeout bounds each network write (default 1m).
	WriteTimeout time.Duration
	// TempDir holds each message body while it arrives, in an unlinked
	// owner-only file, so a session never holds more than a small buffer
	// in memory (default os.TempDir()).
	TempDir string
	// MaxConcurrentStores caps Spool.Store calls running at once; the rest
	// wait within StoreTimeout (default 8).
	MaxConcurrentStores int
	// StoreBudget caps the bytes of the messages being stored at once
	// (default 48 MiB): a Store that must hold its message in memory, as
	// one sealing it whole does, costs a few times the message's size, so
	// large messages are stored one after another while small ones pass
	// beside them. A message larger than the budget is stored alone.
	StoreBudget int64
	// ReceiveBudget caps the bytes of message bodies being received at
	// once, across all sessions (default 1 GiB, at least MaxMessageBytes):
	// without it, every session could hold a whole message in TempDir
	// before any is stored. A message that declares a SIZE that does not
	// fit now is deferred at MAIL, and one that runs out of budget as it
	// arrives at its end, both with 452 4.3.1 so that the sender retries
	// later.
	ReceiveBudget int64
	// StoreTimeout bounds Spool.Store, including the wait for a slot
	// (default 1m).
	StoreTimeout time.Duration
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config
	// RequireTLS refuses MAIL before STARTTLS with 530 5.7.0.
	RequireTLS bool
	// Now is the clock for Envelope.Received and for the log's rate
	// limits (default time.Now).
	Now func() time.Time
	// Logger receives connection metadata and spool ids only (default: discard).
	Logger *slog.Logger
}

// Server is an inbound SMTP server for Direct mail.
type Server struct {
	cfg        Config
	domains    map[string]bool
	smtp       *smtp.Server
	stores     chan struct{}       // slots for concurrent Spool.Store calls
	budget     *semaphore.Weighted // bytes of the messages being stored
	receiving  *semaphore.Weighted // bytes of the message bodies being received
	received   atomic.Int64        // the same count, readable
	refusals   *quietlog.Logger    // connections refused by a cap, sessions and messages turned away by a limit
	connErrors *quietlog.Logger    // sessions that ended in an error: go-smtp's error log, messages cut off

	mu        sync.Mutex
	listeners []*limitListener
}

// New validates cfg, applies defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Spool == nil {
		return nil, errors.New("smtpin: config: Spool is required")
	}
	if len(cfg.Domains) == 0 {
		return nil, errors.New("smtpin: config: at least one Direct domain is required")
	}
	if cfg.RequireTLS && cfg.TLSConfig == nil {
		return nil, errors.New("smtpin: config: RequireTLS needs a TLSConfig")
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 64 << 20
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 50
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 100
	}
	if cfg.MaxConnectionsPerAddr <= 0 {
		cfg.MaxConnectionsPerAddr = 20
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.MaxSessionDuration <= 0 {
		cfg.MaxSessionDuration = 30 * time.Minute
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.MaxConcurrentStores <= 0 {
		cfg.MaxConcurrentStores = 8
	}
	if cfg.StoreBudget <= 0 {
		cfg.StoreBudget = 48 << 20
	}
	if cfg.ReceiveBudget <= 0 {
		cfg.ReceiveBudget = 1 << 30
	}
	cfg.ReceiveBudget = max(cfg.ReceiveBudget, cfg.MaxMessageBytes)
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, domains: make(map[string]bool),
		stores:    make(chan struct{}, cfg.MaxConcurrentStores),
		budget:    semaphore.NewWeighted(cfg.StoreBudget),
		receiving: semaphore.NewWeighted(cfg.ReceiveBudget),
		refusals:  quietlog.New(cfg.Logger, cfg.Now), connErrors: quietlog.New(cfg.Logger, cfg.Now)}
	for _, d := range cfg.Domains {
		s.domains[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Addr = cfg.Addr
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.WriteTimeout = cfg.WriteTimeout
	srv.TLSConfig = cfg.TLSConfig
	srv.ErrorLog = logAdapter{s.connErrors}
	s.smtp = srv
	return s, nil
}

// Serve accepts connections on l until Close or Shutdown.
func (s *Server) Serve(l net.Listener) error {
	ll := s.newLimitListener(l)
	s.mu.Lock()
	s.listeners = append(s.listeners, ll)
	s.mu.Unlock()
	err := s.smtp.Serve(ll)
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("smtpin: serve: %w", err)
	}
	return nil
}

// ListenAndServe listens on Config.Addr and serves.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtpin: listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(l)
}

// Close stops listening and closes all connections at once.
func (s *Server) Close() error { return s.smtp.Close() }

// Shutdown stops listening, ends every session at its next command (a
// session waiting for one is answered 421 at once, a message being
// received is finished and answered first) and waits for them to end or
// ctx to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	for _, l := range s.listeners {
		l.drain()
	}
	s.mu.Unlock()
	return s.smtp.Shutdown(ctx)
}

// acceptsDomain reports whether domain is one of ours.
func (s *Server) acceptsDomain(domain string) bool {
	return s.domains[strings.ToLower(strings.TrimSuffix(domain, "."))]
}

// refused logs a connection turned away by a cap, at most a few lines a
// second however many arrive.
func (s *Server) refused(addr, reason string) {
	s.refusals.Warn("smtpin: connection refused", "remote_ip", addr, "reason", reason)
}

// logAdapter routes go-smtp's internal error log to slog, a few lines a
// second at most: any client can cause a line (a connection reset in the
// middle of a session is one). go-smtp reports only connection-level
// errors (peer address and error), not content.
type logAdapter struct{ q *quietlog.Logger }

func (a logAdapter) Printf(format string, v ...any) {
	a.q.Warn("smtpin: smtp server", "detail", fmt.Sprintf(format, v...))
}

func (a logAdapter) Println(v ...any) {
	a.q.Warn("smtpin: smtp server", "detail", fmt.Sprint(v...))
}
