package smtpout

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Config configures a Sender. The zero value plus HELO sends by MX lookup
// with STARTTLS required.
type Config struct {
	// Smarthost ("host:port"), when set, receives every message; otherwise
	// the recipients' domain is looked up in DNS. The operator names it, so
	// it is dialled whatever its address (a relay inside the network is
	// common).
	Smarthost string
	// Resolver finds MX hosts and their addresses; nil means net.DefaultResolver.
	Resolver Resolver
	// Port is dialed on MX hosts; "25" when empty.
	Port string
	// HELO is the name we greet with; it should be our public host name.
	HELO string
	// TLSConfig verifies the server in STARTTLS; ServerName defaults to the
	// MX or smarthost name. nil means system roots.
	TLSConfig *tls.Config
	// AllowPrivate lets mail hosts found by MX lookup be reached on
	// loopback, private, link-local and other non-public addresses: for
	// development and tests on loopback only. The default refuses them
	// with ErrNotPublic, checked on each address dialled.
	AllowPrivate bool
	// AllowPlaintext lets messages go to servers that do not offer STARTTLS.
	// The default (false) requires TLS and fails with ErrTLSRequired.
	AllowPlaintext bool
	// DialTimeout bounds the TCP connect (default 30s).
	DialTimeout time.Duration
	// CommandTimeout bounds each command's reply (default 5m, RFC 5321).
	CommandTimeout time.Duration
	// SubmissionTimeout bounds the reply to the end of DATA (default 10m).
	SubmissionTimeout time.Duration
	// IdleTimeout closes pooled connections unused this long (default 30s);
	// negative disables pooling.
	IdleTimeout time.Duration
	// MaxIdlePerHost caps pooled connections per destination (default 2).
	MaxIdlePerHost int
}

// Result is the server's final reply to a delivered message.
type Result struct {
	Host         string // the server that accepted the message
	TLS          bool   // whether the session was protected by STARTTLS
	Code         int    // 250
	EnhancedCode string // e.g. "2.0.0"; empty when the server sent none
	Message      string // the reply text, often carrying the remote queue id
}

// Sender delivers messages over SMTP. It is safe for concurrent use; each
// Send uses its own connection, taken from or returned to the pool.
type Sender struct {
	cfg  Config
	pool *pool
}

// New returns a Sender with defaults applied to cfg.
func New(cfg Config) (*Sender, error) {
	if cfg.HELO == "" || strings.ContainsAny(cfg.HELO, " \r\n") {
		return nil, errors.New("smtpout: config: HELO name is required")
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Port == "" {
		cfg.Port = "25"
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Minute
	}
	if cfg.SubmissionTimeout <= 0 {
		cfg.SubmissionTimeout = 10 * time.Minute
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.MaxIdlePerHost <= 0 {
		cfg.MaxIdlePerHost = 2
	}
	return &Sender{cfg: cfg, pool: newPool(cfg.IdleTimeout, cfg.MaxIdlePerHost)}, nil
}

// Close closes all pooled connections. Sends in flight finish; their
// connections are closed instead of pooled.
func (s *Sender) Close() error {
	s.pool.closeAll()
	return nil
}

// Send delivers msg (CRLF line endings, already signed and encrypted) from
// the envelope sender to the recipients and returns the server's reply to
// the end of DATA. Any refused recipient fails the whole send. Connection
// failures move on to the next MX host; a reply to MAIL, RCPT or DATA is
// final. Use IsTemporary to decide on a retry.
func (s *Sender) Send(ctx context.Context, from string, to []string, msg []byte) (_ Result, err error) {
	ctx, end := startSend(ctx, len(to), len(msg))
	defer func() { end(err) }()
	if len(to) == 0 {
		return Result{}, errors.New("smtpout: send: no recipients")
	}
	for _, a := range append([]string{from}, to...) {
		if strings.ContainsAny(a, "\r\n<> ") {
			return Result{}, fmt.Errorf("smtpout: send: malformed address %q", a)
		}
	}
	dests, err := s.destinations(ctx, to)
	if err != nil {
		return Result{}, err
	}
	var failed hostErrors
	for _, d := range dests {
		for _, addr := range d.addrs {
			res, err := s.sendTo(ctx, d, addr, from, to, msg)
			if err == nil {
				return res, nil
			}
			if final(err) || ctx.Err() != nil {
				return Result{}, err
			}
			failed.add(err)
		}
	}
	return Result{}, failed.err()
}

// hostErrors collects the failures of the mail hosts of one attempt. If
// any of them may pass later (a host down, a 4xx greeting), the attempt
// is worth retrying however the others failed: the outcome is that
// temporary error, not whichever host happened to be tried last.
type hostErrors struct {
	temporary, last error
}

func (h *hostErrors) add(err error) {
	if h.temporary == nil && IsTemporary(err) {
		h.temporary = err
	}
	h.last = err
}

func (h *hostErrors) err() error {
	switch {
	case h.temporary == nil:
		return h.last
	case h.last == h.temporary:
		return h.temporary
	default:
		return fmt.Errorf("%w (last mail host: %v)", h.temporary, h.last)
	}
}

// final reports whether an error ends the attempt instead of moving on to
// the next server: a refusal of the transaction itself.
func final(err error) bool {
	var re *ReplyError
	if errors.As(err, &re) {
		switch re.Command {
		case "MAIL", "RCPT", "DATA":
			return true
		}
	}
	return false
}

func (s *Sender) sendTo(ctx context.Context, d destination, addr, from string, to []string, msg []byte) (Result, error) {
	host := d.host
	c, err := s.take(ctx, d, addr)
	if err != nil {
		return Result{}, err
	}
	// Abort blocked I/O when ctx ends; the connection is then discarded.
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	res, err := s.transact(c, from, to, msg)
	if !stop() {
		return Result{}, fmt.Errorf("smtpout: send to %s: %w", host, ctx.Err())
	}
	var re *ReplyError
	switch {
	case err == nil:
		s.pool.put(c)
	case errors.As(err, &re):
		s.pool.put(c) // the session is intact; RSET runs before reuse
	default:
		c.close()
	}
	return res, err
}

// take returns a pooled connection that answers RSET, or a new one.
func (s *Sender) take(ctx context.Context, d destination, addr string) (*conn, error) {
	host := d.host
	key := host + "|" + addr
	for {
		c := s.pool.get(key)
		if c == nil {
			break
		}
		stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
		err := c.client.Reset() // bounded by the client's CommandTimeout
		if stop() && err == nil {
			return c, nil
		}
		c.close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("smtpout: reuse connection to %s: %w", host, ctx.Err())
		}
	}
	return s.dial(ctx, d, addr)
}

func (s *Sender) transact(c *conn, from string, to []string, msg []byte) (Result, error) {
	if err := c.client.Mail(from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return Result{}, fmt.Errorf("smtpout: MAIL FROM: %w", replyError("MAIL", c.host, err))
	}
	for _, rcpt := range to {
		if err := c.client.Rcpt(rcpt, nil); err != nil {
			return Result{}, fmt.Errorf("smtpout: RCPT TO: %w", replyError("RCPT", c.host, err))
		}
	}
	w, err := c.client.Data()
	if err != nil {
		return Result{}, fmt.Errorf("smtpout: DATA: %w", replyError("DATA", c.host, err))
	}
	if _, err := bytes.NewReader(msg).WriteTo(w); err != nil {
		return Result{}, fmt.Errorf("smtpout: DATA: write: %w", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return Result{}, fmt.Errorf("smtpout: end of DATA: %w", replyError("DATA", c.host, err))
	}
	enh, text := splitEnhanced(resp.StatusText)
	return Result{Host: c.host, TLS: c.tls, Code: 250, EnhancedCode: enh, Message: text}, nil
}
