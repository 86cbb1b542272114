package httpedge_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway/httpedge"
)

// writePair writes a self-signed certificate for 127.0.0.1 with serial n.
func writePair(t *testing.T, dir string, n int64, mtime time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: "gw.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// serving returns the serial of the certificate a TLS server presents.
func serving(t *testing.T, addr string, cfg *tls.Config) *big.Int {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestTLSCertificateReloadedAndHSTS(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	writePair(t, dir, 1, base)
	cert, err := httpedge.LoadCertificate(filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go cert.Watch(ctx, 10*time.Millisecond)

	e := httpedge.New(httpedge.Limits{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.Server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	go func() { _ = srv.Serve(tls.NewListener(e.Listener(l), cert.TLSConfig())) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := l.Addr().String()
	insecure := &tls.Config{InsecureSkipVerify: true} // the test checks which certificate, not trust

	if got := serving(t, addr, insecure); got.Int64() != 1 {
		t.Fatalf("serving serial %v, want 1", got)
	}
	// A renewed certificate replaces the files: served without a restart.
	writePair(t, dir, 2, base.Add(time.Minute))
	deadline := time.Now().Add(10 * time.Second)
	for serving(t, addr, insecure).Int64() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A broken file keeps the working certificate.
	if err := os.WriteFile(filepath.Join(dir, "tls.pem"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cert.Reload(); err == nil {
		t.Fatal("Reload accepted a broken certificate file")
	}
	if got := serving(t, addr, insecure); got.Int64() != 2 {
		t.Fatalf("after a failed reload serving %v, want 2", got)
	}

	// TLS 1.1 and older are refused.
	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	// Responses over TLS carry HSTS.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure}}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") != httpedge.HSTS {
		t.Fatalf("HSTS %q over TLS", resp.Header.Get("Strict-Transport-Security"))
	}
}

func TestConnectionCapsHoldOverTLS(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, 1, time.Now().Add(-time.Hour))
	cert, err := httpedge.LoadCertificate(filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := httpedge.New(httpedge.Limits{MaxConns: 3, MaxConnsPerAddr: 2})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.Server(ok)
	go func() { _ = srv.Serve(tls.NewListener(e.Listener(l), cert.TLSConfig())) }()
	t.Cleanup(func() { _ = srv.Close() })
	from := func(local string) *http.Response {
		t.Helper()
		raw := dialFrom(t, local, l.Addr().String())
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) // the test checks caps, not trust
		r := bufio.NewReader(c)
		resp := get(t, c, r)
		if resp.StatusCode != http.StatusOK {
			// A refused connection is closed by the server, and no longer
			// counts once its socket is (after TLS's close_notify).
			_ = raw.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, _ = io.Copy(io.Discard, r)
			if _, err := io.Copy(io.Discard, raw); err != nil {
				t.Fatalf("refused connection not closed: %v", err)
			}
		}
		return resp
	}
	for range 2 {
		if resp := from("127.0.0.1"); resp.StatusCode != http.StatusOK {
			t.Fatalf("connection within the caps: %d", resp.StatusCode)
		}
	}
	wantRefused(t, from("127.0.0.1"), http.StatusTooManyRequests)
	if resp := from("127.0.0.2"); resp.StatusCode != http.StatusOK {
		t.Fatalf("another address within the server's cap: %d", resp.StatusCode)
	}
	wantRefused(t, from("127.0.0.3"), http.StatusServiceUnavailable)
}

// lineSink collects log output from the server's goroutines.
type lineSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.WriteString(string(p))
}

func (s *lineSink) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), substr)
}

func TestFailedHandshakesAreLoggedAFewLinesASecond(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, 1, time.Now().Add(-time.Hour))
	cert, err := httpedge.LoadCertificate(filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var sink lineSink
	e := httpedge.New(httpedge.Limits{Log: slog.New(slog.NewTextHandler(&sink, nil)), MaxConnsPerAddr: 1000})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.Server(ok)
	go func() { _ = srv.Serve(tls.NewListener(e.Listener(l), cert.TLSConfig())) }()
	t.Cleanup(func() { _ = srv.Close() })

	// A script that speaks anything but TLS to the HTTPS port fails one
	// handshake per connection; each failure is a line for net/http.
	started := time.Now()
	const conns = 100
	for range conns {
		c := dialFrom(t, "127.0.0.1", l.Addr().String())
		if _, err := io.WriteString(c, "hello, not TLS\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(io.Discard, c) // the server hangs up
	}
	deadline := time.Now().Add(30 * time.Second)
	for sink.count("TLS handshake error") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed handshake was logged")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	// At most 5 lines in any second.
	bound := 5 * (int(time.Since(started)/time.Second) + 2)
	if n := sink.count("TLS handshake error"); n > bound || n >= conns {
		t.Fatalf("%d lines for %d failed handshakes, want at most %d", n, conns, bound)
	}
}
