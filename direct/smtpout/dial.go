package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// conn is one established SMTP session, owned by one Send at a time.
type conn struct {
	key    string // pool key: destination host and dialed address
	host   string
	raw    net.Conn // the TCP connection, closed to abort
	client *smtp.Client
	tls    bool
	idle   *time.Timer // set while the conn sits in the pool
}

// close ends the session politely if possible and always closes the socket.
func (c *conn) close() {
	_ = c.raw.SetDeadline(time.Now().Add(2 * time.Second))
	_ = c.client.Quit()
	_ = c.raw.Close()
}

// dial connects to addr and runs greeting, EHLO and STARTTLS. go-smtp's
// client cannot send our HELO name before STARTTLS, so this part of the
// dialogue is spoken here and the client takes over on the secured socket.
// A guarded destination's address is checked as it is dialled.
func (s *Sender) dial(ctx context.Context, dest destination, addr string) (*conn, error) {
	host := dest.host
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	if dest.guarded {
		d.ControlContext = checkPublic
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtpout: dial %s (%s): %w", host, addr, err)
	}
	deadline := time.Now().Add(s.cfg.CommandTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = raw.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	secured, usedTLS, err := s.handshake(ctx, raw, host)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	_ = secured.SetDeadline(time.Time{})
	client := smtp.NewClient(&greetedConn{Conn: &replyLimit{Conn: secured}, greeting: strings.NewReader("220 " + host + " resumed\r\n")})
	client.CommandTimeout = s.cfg.CommandTimeout
	client.SubmissionTimeout = s.cfg.SubmissionTimeout
	if err := client.Hello(s.cfg.HELO); err != nil {
		_ = secured.Close()
		return nil, fmt.Errorf("smtpout: EHLO %s: %w", host, replyError("EHLO", host, err))
	}
	return &conn{key: host + "|" + addr, host: host, raw: secured, client: client, tls: usedTLS}, nil
}

// handshake reads the greeting, says EHLO and upgrades to TLS when offered.
// It returns the connection to continue on and whether it is TLS.
func (s *Sender) handshake(ctx context.Context, raw net.Conn, host string) (net.Conn, bool, error) {
	tp := textproto.NewConn(nopCloser{&replyLimit{Conn: raw}})
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, false, fmt.Errorf("smtpout: greeting from %s: %w", host, textError("greeting", host, err))
	}
	_, ehlo, err := exchange(tp, 250, "EHLO %s", s.cfg.HELO)
	if err != nil {
		return nil, false, fmt.Errorf("smtpout: EHLO %s: %w", host, textError("EHLO", host, err))
	}
	if !offers(ehlo, "STARTTLS") {
		if s.cfg.AllowPlaintext {
			return raw, false, nil
		}
		_, _, _ = exchange(tp, 221, "QUIT")
		return nil, false, fmt.Errorf("smtpout: %s: %w", host, ErrTLSRequired)
	}
	if _, _, err := exchange(tp, 220, "STARTTLS"); err != nil {
		return nil, false, fmt.Errorf("smtpout: STARTTLS %s: %w", host, textError("STARTTLS", host, err))
	}
	cfg := s.cfg.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, false, fmt.Errorf("smtpout: TLS handshake with %s: %w", host, err)
	}
	return tc, true, nil
}

// exchange sends one command and reads its reply.
func exchange(tp *textproto.Conn, expect int, format string, args ...any) (int, string, error) {
	id, err := tp.Cmd(format, args...)
	if err != nil {
		return 0, "", err
	}
	tp.StartResponse(id)
	defer tp.EndResponse(id)
	return tp.ReadResponse(expect)
}

// offers reports whether an EHLO reply lists extension ext.
func offers(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// textError turns a net/textproto reply error into a *ReplyError.
func textError(command, host string, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return err
	}
	enh, msg := splitEnhanced(te.Msg)
	return &ReplyError{Command: command, Code: te.Code, EnhancedCode: enh, Message: msg, Host: host}
}

// greetedConn replays a synthetic 220 greeting before the real stream, so
// that a go-smtp client can start on a connection whose greeting (and
// STARTTLS) was already handled.
type greetedConn struct {
	net.Conn
	greeting io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) {
	if g.greeting != nil {
		n, err := g.greeting.Read(p)
		if err == io.EOF {
			g.greeting = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return g.Conn.Read(p)
}

// maxReplyBytes bounds one reply with all its lines. RFC 5321 4.5.3.1.5
// allows a reply line 512 octets, and the longest reply we read, to EHLO,
// has a few dozen lines.
const maxReplyBytes = 64 << 10

// replyLimit fails a read once the server has sent maxReplyBytes since our
// last write, so a server that answers without end (an unterminated line,
// or continuation lines forever) cannot fill our memory while its command
// timeout runs: net/textproto and go-smtp read a reply whole, however
// long it is.
type replyLimit struct {
	net.Conn
	read int // bytes read since the last write
}

func (c *replyLimit) Read(p []byte) (int, error) {
	left := maxReplyBytes - c.read
	if left <= 0 {
		return 0, ErrReplyTooLong
	}
	if len(p) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.read += n
	return n, err
}

func (c *replyLimit) Write(p []byte) (int, error) {
	c.read = 0
	return c.Conn.Write(p)
}

// nopCloser keeps textproto from owning the socket.
type nopCloser struct{ io.ReadWriter }

func (nopCloser) Close() error { return nil }
