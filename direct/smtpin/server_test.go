package smtpin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/referralgw/gateway/direct/certs"
)

var fixedNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// testTLS returns a server config with a self-signed certificate for
// 127.0.0.1 and a client config that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	cert, err := certs.SelfSignedTLS(time.Now(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
}

// mailboxSet accepts the listed addresses.
type mailboxSet map[string]bool

func (m mailboxSet) Accepts(_ context.Context, addr string) (bool, error) {
	return m[strings.ToLower(addr)], nil
}

// failingSpool refuses every message and counts attempts.
type failingSpool struct{ calls atomic.Int32 }

func (f *failingSpool) Store(context.Context, Envelope, *io.SectionReader) (string, error) {
	f.calls.Add(1)
	return "", errors.New("disk full")
}

type fixture struct {
	addr      string
	clientTLS *tls.Config
	spool     *DirSpool
	srv       *Server
}

// start runs a Server on 127.0.0.1:0 with a DirSpool in a temp dir.
func start(t *testing.T, modify func(*Config)) *fixture {
	t.Helper()
	spool, err := NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := testTLS(t)
	cfg := Config{
		Hostname:  "mx.direct.receiver.example",
		Domains:   []string{"direct.receiver.example"},
		Mailboxes: mailboxSet{"intake@direct.receiver.example": true, "cardio@direct.receiver.example": true, "ortho@direct.receiver.example": true},
		Spool:     spool,
		TLSConfig: serverTLS,
		Now:       func() time.Time { return fixedNow },
	}
	if modify != nil {
		modify(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &fixture{addr: l.Addr().String(), clientTLS: clientTLS, spool: spool, srv: srv}
}

// dialTLS connects and runs STARTTLS.
func (f *fixture) dialTLS(t *testing.T) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(f.addr, f.clientTLS)
	if err != nil {
		t.Fatalf("DialStartTLS: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (f *fixture) stored(t *testing.T) []string {
	t.Helper()
	ids, err := f.spool.List()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// wantCode asserts err is an SMTP reply with the given codes.
func wantCode(t *testing.T, err error, code int, enh smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want SMTP reply %d", err, code)
	}
	if se.Code != code || se.EnhancedCode != enh {
		t.Fatalf("reply = %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, enh)
	}
}

const rawMsg = "From: alice@direct.sender.example\r\nTo: intake@direct.receiver.example\r\n" +
	"Subject: synthetic\r\n\r\n.line starting with a dot\r\nbinary-ish \xc3\xa9\r\nlast line without newline"

func TestAcceptedMessageIsSpooledByteExact(t *testing.T) {
	f := start(t, nil)
	c := f.dialTLS(t)
	if err := c.Mail("alice@direct.sender.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"intake@direct.receiver.example", "Cardio@Direct.Receiver.Example"} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatalf("RCPT %s: %v", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(rawMsg)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	ids := f.stored(t)
	if len(ids) != 1 {
		t.Fatalf("spool holds %d messages, want 1", len(ids))
	}
	if !strings.Contains(resp.StatusText, ids[0]) {
		t.Errorf("250 reply %q does not name spool id %s", resp.StatusText, ids[0])
	}
	env, raw, err := f.spool.Load(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	// The client's dot-writer terminates the last line with CRLF.
	if want := rawMsg + "\r\n"; !bytes.Equal(raw, []byte(want)) {
		t.Errorf("spooled bytes differ:\n got %q\nwant %q", raw, want)
	}
	wantEnv := Envelope{
		RemoteIP: "127.0.0.1", HELO: "localhost", MailFrom: "alice@direct.sender.example",
		RcptTo:   []string{"intake@direct.receiver.example", "Cardio@Direct.Receiver.Example"},
		Received: fixedNow, TLS: true,
	}
	if env.RemoteIP != wantEnv.RemoteIP || env.HELO != wantEnv.HELO || env.MailFrom != wantEnv.MailFrom ||
		strings.Join(env.RcptTo, ",") != strings.Join(wantEnv.RcptTo, ",") || !env.Received.Equal(fixedNow) || !env.TLS {
		t.Errorf("envelope = %+v, want %+v", env, wantEnv)
	}
}

func TestRecipientRefusals(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxRecipients = 2 })
	tests := []struct {
		name  string
		rcpts []string
		code  int
		enh   smtp.EnhancedCode
	}{
		{"relay to foreign domain", []string{"victim@elsewhere.example"}, 550, smtp.EnhancedCode{5, 7, 1}},
		{"relay via subdomain", []string{"x@evil.direct.receiver.example"}, 550, smtp.EnhancedCode{5, 7, 1}},
		{"unknown user", []string{"nobody@direct.receiver.example"}, 550, smtp.EnhancedCode{5, 1, 1}},
		{"too many recipients", []string{"intake@direct.receiver.example", "cardio@direct.receiver.example", "ortho@direct.receiver.example"}, 452, smtp.EnhancedCode{4, 5, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.dialTLS(t)
			if err := c.Mail("alice@direct.sender.example", nil); err != nil {
				t.Fatal(err)
			}
			var err error
			for _, r := range tt.rcpts {
				if err = c.Rcpt(r, nil); err != nil {
					break
				}
			}
			wantCode(t, err, tt.code, tt.enh)
		})
	}
	if ids := f.stored(t); len(ids) != 0 {
		t.Fatalf("spool holds %d messages after refusals", len(ids))
	}
}

func TestOversizedMessage(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxMessageBytes = 1024 })
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 256)

	t.Run("declared SIZE", func(t *testing.T) {
		c := f.dialTLS(t)
		err := c.Mail("alice@direct.sender.example", &smtp.MailOptions{Size: int64(len(big))})
		wantCode(t, err, 552, smtp.EnhancedCode{5, 3, 4})
	})
	t.Run("undeclared", func(t *testing.T) {
		c := f.dialTLS(t)
		if err := c.Mail("alice@direct.sender.example", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("intake@direct.receiver.example", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(big))
		_, err = w.CloseWithResponse()
		wantCode(t, err, 552, smtp.EnhancedCode{5, 3, 4})
	})
	if ids := f.stored(t); len(ids) != 0 {
		t.Fatalf("spool holds %d oversized messages", len(ids))
	}
}

func TestSpoolFailureIs451(t *testing.T) {
	failing := &failingSpool{}
	f := start(t, func(c *Config) { c.Spool = failing })
	c := f.dialTLS(t)
	if err := c.Mail("", nil); err != nil { // null sender, as MDNs and DSNs use
		t.Fatal(err)
	}
	if err := c.Rcpt("intake@direct.receiver.example", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(rawMsg)); err != nil {
		t.Fatal(err)
	}
	_, err = w.CloseWithResponse()
	wantCode(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	if failing.calls.Load() != 1 {
		t.Errorf("Store called %d times, want 1", failing.calls.Load())
	}
	if ids := f.stored(t); len(ids) != 0 {
		t.Fatalf("spool holds %d messages after a failed store", len(ids))
	}
}

func TestRequireTLS(t *testing.T) {
	f := start(t, func(c *Config) { c.RequireTLS = true })
	c, err := smtp.Dial(f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not advertised")
	}
	wantCode(t, c.Mail("alice@direct.sender.example", nil), 530, smtp.EnhancedCode{5, 7, 0})

	tc := f.dialTLS(t)
	if err := tc.Mail("alice@direct.sender.example", nil); err != nil {
		t.Fatalf("MAIL after STARTTLS: %v", err)
	}
	if state, ok := tc.TLSConnectionState(); !ok || !state.HandshakeComplete {
		t.Fatal("STARTTLS did not complete")
	}
}

func TestMaxConnections(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxConnections = 1 })
	first, err := smtp.Dial(f.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Noop(); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	second, err := smtp.Dial(f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	wantCode(t, second.Noop(), 421, smtp.EnhancedCode{4, 7, 0})

	if err := first.Quit(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := smtp.Dial(f.addr)
		if err == nil {
			err = c.Noop()
			_ = c.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released after QUIT: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	spool, err := NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no spool", Config{Domains: []string{"d.example"}}},
		{"no domains", Config{Spool: spool}},
		{"require TLS without TLS", Config{Spool: spool, Domains: []string{"d.example"}, RequireTLS: true}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
}

func TestOverlongLineInMessageIsRefusedPermanently(t *testing.T) {
	f := start(t, nil)
	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	// RFC 5321 4.5.3.1.6 allows 1000 octets a line; go-smtp reads up to
	// 2000. The message can never be taken as it is, so a retry is futile:
	// the reply must be permanent, not 451.
	c.write("Subject: long line\r\n\r\n" + strings.Repeat("y", 2500) + "\r\n.\r\n")
	if reply := c.expect("5"); !strings.HasPrefix(reply, "500 5.5.2 ") {
		t.Fatalf("reply %q, want 500 5.5.2", reply)
	}
	c.closed() // the rest of the line cannot be read as commands
	if ids := f.stored(t); len(ids) != 0 {
		t.Fatalf("spooled a message with an overlong line: %v", ids)
	}
}
