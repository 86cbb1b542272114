package smtpin

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lineConn is a client that speaks SMTP line by line over conn.
type lineConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialLines connects to addr and reads the greeting.
func dialLines(t *testing.T, addr string) *lineConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	lc := &lineConn{t: t, conn: c, r: bufio.NewReader(c)}
	lc.expect("220")
	return lc
}

// starttls upgrades the session and greets again.
func (c *lineConn) starttls(cfg *tls.Config) {
	c.t.Helper()
	c.cmd("STARTTLS", "220")
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.cmd("EHLO client.example", "250")
}

// cmd sends line (when not empty) and expects a reply with code.
func (c *lineConn) cmd(line, code string) string {
	c.t.Helper()
	if line != "" {
		c.write(line + "\r\n")
	}
	return c.expect(code)
}

func (c *lineConn) write(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// closed reads until the server closes the connection and returns the
// last line it said.
func (c *lineConn) closed() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var last string
	for {
		line, err := c.r.ReadString('\n')
		if line != "" {
			last = line
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("server kept the connection open; last reply %q", last)
			}
			return last
		}
	}
}

// expect reads one reply, multi-line or not, and checks its code.
func (c *lineConn) expect(code string) string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var last string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", code, err)
		}
		last = line
		if len(line) < 4 || line[3] != '-' {
			break
		}
	}
	if !strings.HasPrefix(last, code) {
		c.t.Fatalf("reply %q, want %s", last, code)
	}
	return last
}

func TestShutdownEndsIdleSessionsAndFinishesMessages(t *testing.T) {
	spool, err := NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := testTLS(t)
	srv, err := New(Config{Hostname: "mx.direct.receiver.example", Domains: []string{"direct.receiver.example"},
		Spool: spool, TLSConfig: serverTLS, IdleTimeout: time.Hour, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := l.Addr().String()

	idle := dialLines(t, addr)
	idle.cmd("EHLO client.example", "250")
	idleTLS := dialLines(t, addr)
	idleTLS.cmd("EHLO client.example", "250")
	idleTLS.starttls(clientTLS)
	sending := dialLines(t, addr)
	sending.cmd("EHLO client.example", "250")
	sending.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	sending.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	sending.cmd("DATA", "354")
	sending.write("Subject: in flight at shutdown\r\n\r\nfirst half\r\n")
	chunked := dialLines(t, addr)
	chunked.cmd("EHLO client.example", "250")
	chunked.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	chunked.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	first := "Subject: chunked\r\n\r\n"
	chunked.write("BDAT " + strconv.Itoa(len(first)) + "\r\n" + first)
	chunked.expect("250")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()

	// Sessions waiting for a command are told 421 and closed at once
	// rather than holding shutdown up until their idle timeout.
	for name, c := range map[string]*lineConn{"plain": idle, "tls": idleTLS} {
		if last := c.closed(); !strings.HasPrefix(last, "421 ") {
			t.Errorf("idle %s session: last reply %q, want 421", name, last)
		}
	}
	// The message in flight is received and acknowledged, then its
	// session is closed too.
	sending.write("second half\r\n.\r\n")
	sending.expect("250")
	if last := sending.closed(); !strings.HasPrefix(last, "421 ") {
		t.Errorf("sending session after its message: last reply %q, want 421", last)
	}
	last := "body\r\n"
	chunked.write("BDAT " + strconv.Itoa(len(last)) + " LAST\r\n" + last)
	chunked.expect("250")
	if last := chunked.closed(); !strings.HasPrefix(last, "421 ") {
		t.Errorf("chunked session after its message: last reply %q, want 421", last)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	ids, err := spool.List()
	if err != nil || len(ids) != 2 {
		t.Fatalf("spool holds %v (%v), want the two messages finished during shutdown", ids, err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
}
