package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
)

// TestSelfSignedTLS: a client that trusts exactly the certificate completes
// a handshake for each host it names, and refuses a host it does not name.
func TestSelfSignedTLS(t *testing.T) {
	cert, err := certs.SelfSignedTLS(time.Now(), "127.0.0.1", "mx.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := certs.SelfSignedTLS(time.Now()); err == nil {
		t.Fatal("no host accepted")
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"127.0.0.1", true}, {"mx.test", true}, {"other.test", false}} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
			&tls.Config{RootCAs: pool, ServerName: tt.name})
		if (err == nil) != tt.ok {
			t.Errorf("handshake as %s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if c != nil {
			c.Close()
		}
	}
}
