package smtpout

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"

	"github.com/emersion/go-smtp"
)

// testCert returns a self-signed server certificate for mx.test and
// 127.0.0.1, and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, err := certs.SelfSignedTLS(time.Now(), "mx.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	return cert, roots
}

// received is one message the test server accepted.
type received struct {
	from string
	to   []string
	data []byte
	tls  bool
}

// testServer is a go-smtp server on 127.0.0.1:0 whose behaviour depends on
// the recipient's local part: temp@ gets 451, perm@ gets 550, stall@ makes
// DATA wait until release is closed.
type testServer struct {
	addr    string
	roots   *x509.CertPool
	accepts atomic.Int32 // TCP connections accepted
	open    atomic.Int32 // TCP connections currently open

	mu      sync.Mutex
	msgs    []received
	inData  chan struct{}
	release chan struct{}
}

func startServer(t *testing.T, withTLS bool) *testServer {
	t.Helper()
	ts := &testServer{inData: make(chan struct{}, 1), release: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &testSession{ts: ts, tls: isTLS}, nil
	}))
	srv.Domain = "mx.test"
	srv.ErrorLog = nopLogger{}
	if withTLS {
		cert, roots := testCert(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ts.roots = roots
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	go func() { _ = srv.Serve(&countingListener{Listener: l, ts: ts}) }()
	t.Cleanup(func() {
		close(ts.release)
		_ = srv.Close()
	})
	return ts
}

func (ts *testServer) messages() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.msgs...)
}

type countingListener struct {
	net.Listener
	ts *testServer
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.ts.accepts.Add(1)
	l.ts.open.Add(1)
	return &countedConn{Conn: c, ts: l.ts}, nil
}

type countedConn struct {
	net.Conn
	ts   *testServer
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.ts.open.Add(-1) })
	return c.Conn.Close()
}

type testSession struct {
	ts   *testServer
	tls  bool
	from string
	to   []string
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch strings.SplitN(to, "@", 2)[0] {
	case "temp":
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	case "perm":
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(s.to) > 0 && strings.HasPrefix(s.to[0], "stall@") {
		s.ts.inData <- struct{}{}
		<-s.ts.release
		return errors.New("released")
	}
	s.ts.mu.Lock()
	s.ts.msgs = append(s.ts.msgs, received{from: s.from, to: s.to, data: b, tls: s.tls})
	s.ts.mu.Unlock()
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "queued as Q1"}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
