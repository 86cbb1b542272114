package channel_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, roots
}
