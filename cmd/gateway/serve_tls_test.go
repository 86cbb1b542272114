package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/gateway/httpedge"
)

// startServe runs `gateway serve` with args until the test ends and
// returns its stdout and stderr buffers once it listens.
func startServe(t *testing.T, args ...string) (out, errs *syncBuffer) {
	t.Helper()
	t.Setenv("GATEWAY_DATA_DIR", t.TempDir())
	t.Setenv("GATEWAY_DB", "")
	ctx, cancel := context.WithCancel(context.Background())
	out, errs = &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"serve", "--shutdown-grace", "2s"}, args...), out, errs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, errs.String())
		}
	})
	pollUntil(t, "serve to listen", func() bool { return strings.Contains(out.String(), "listening on") })
	return out, errs
}

func TestServeTLSWithSecurityHeaders(t *testing.T) {
	dir := t.TempDir()
	pair, err := certs.SelfSignedTLS(time.Now(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem")
	writePEMPair(t, pair, certFile, keyFile)
	out, errs := startServe(t, "--http", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	m := regexp.MustCompile(`listening on (https://[0-9.:]+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("serve did not announce https:\n%s", out.String())
	}
	roots := x509.NewCertPool()
	roots.AddCert(pair.Leaf)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := hc.Get(m[1] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusOK || h.Get("Strict-Transport-Security") != httpedge.HSTS ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
		!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("healthz over TLS: %d %v", resp.StatusCode, h)
	}
	if strings.Contains(errs.String(), "PLAIN HTTP") {
		t.Errorf("plain-HTTP warning while serving TLS:\n%s", errs.String())
	}
	// Plain HTTP on the TLS port gets no answer it could mistake for service.
	if resp, err := http.Get(strings.Replace(m[1], "https", "http", 1) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the TLS port")
		}
	}
}

func TestServePlainHTTPOutsideLoopbackWarns(t *testing.T) {
	_, errs := startServe(t, "--http", "0.0.0.0:0")
	if !strings.Contains(errs.String(), "level=WARN") || !strings.Contains(errs.String(), "SERVING PHI OVER PLAIN HTTP") {
		t.Fatalf("no warning for plain HTTP on all interfaces:\n%s", errs.String())
	}
	_, errs = startServe(t, "--http", "127.0.0.1:0")
	if strings.Contains(errs.String(), "PLAIN HTTP") {
		t.Fatalf("warning on loopback:\n%s", errs.String())
	}
}

func TestServeTLSFlagsGoTogether(t *testing.T) {
	t.Setenv("GATEWAY_DATA_DIR", t.TempDir())
	var out, errs syncBuffer
	err := run(context.Background(), []string{"serve", "--http", "127.0.0.1:0", "--tls-cert", "x.pem"}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("serve with --tls-cert alone: %v", err)
	}
}

// writePEMPair writes a certificate and its key as PEM files.
func writePEMPair(t *testing.T, pair tls.Certificate, certFile, keyFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
