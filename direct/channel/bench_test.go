package channel_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"

	"github.com/referralgw/gateway/direct/smtpin"
	"github.com/referralgw/gateway/direct/smtpout"
)

// BenchmarkSend measures one full Send: compose, sign, encrypt and SMTP
// with STARTTLS to an smtpin server on 127.0.0.1 that spools to disk
// (pooled connection, so the handshake is paid once).
func BenchmarkSend(b *testing.B) {
	spool, err := smtpin.NewDirSpool(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	serverTLS, roots := selfSigned(b)
	srv, err := smtpin.New(smtpin.Config{Hostname: "mx." + theirDom, Domains: []string{theirDom}, Spool: spool,
		TLSConfig: serverTLS, RequireTLS: true})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })
	snd, err := smtpout.New(smtpout.Config{Smarthost: l.Addr().String(), HELO: "gw." + ourDomain, TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = snd.Close() })
	ch := newChannel(b, snd, nil)
	out := outbound(false)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		out.Delivery.ID = fmt.Sprintf("del-%d", i)
		i++
		if _, err := ch.Send(b.Context(), out); err != nil {
			b.Fatal(err)
		}
	}
}

func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cert, err := certs.SelfSignedTLS(time.Now(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, roots
}
