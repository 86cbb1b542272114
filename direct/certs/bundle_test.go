package certs_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/internal/osslca"
)

// TestP7BBundleRefresh: a DirectTrust-style bundle (PKCS #7, made by
// openssl crl2pkcs7) loads from a URL and from a file; a refresh replaces
// the bundle's anchors and keeps our own; a broken bundle changes nothing.
func TestP7BBundleRefresh(t *testing.T) {
	hispA, hispB := osslca.New(t, ""), osslca.New(t, "")
	leafA := hispA.Issue(t, "a", "intake@direct.hisp-a.test", "rsa:2048")
	leafB := hispB.Issue(t, "b", "intake@direct.hisp-b.test", "rsa:2048")
	p7b := func(p *osslca.CA) []byte {
		return p.Run(t, "crl2pkcs7", "-nocrl", "-certfile", p.Path("ca.pem"), "-outform", "DER")
	}
	var (
		mu   sync.Mutex
		body = p7b(hispA)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	own, err := certs.NewDevCA("direct.own.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ownLeaf, err := own.IssueDomain("direct.own.test")
	if err != nil {
		t.Fatal(err)
	}
	store, err := certs.NewTrustStore(own.Cert)
	if err != nil {
		t.Fatal(err)
	}
	trusted := func(c *x509.Certificate) bool {
		_, err := c.Verify(x509.VerifyOptions{Roots: store.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err == nil
	}
	src := &certs.BundleSource{Location: srv.URL + "/bundle.p7b", Store: store}
	if n, err := src.Refresh(context.Background()); err != nil || n != 1 {
		t.Fatalf("refresh from URL: %d %v", n, err)
	}
	if !trusted(leafA.Cert) || trusted(leafB.Cert) || !trusted(ownLeaf.Cert) {
		t.Fatalf("after bundle A: A %v, B %v, own %v", trusted(leafA.Cert), trusted(leafB.Cert), trusted(ownLeaf.Cert))
	}
	mu.Lock()
	body = p7b(hispB)
	mu.Unlock()
	if _, err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if trusted(leafA.Cert) || !trusted(leafB.Cert) || !trusted(ownLeaf.Cert) {
		t.Fatal("after bundle B: A must be dropped, B and our own trusted")
	}
	mu.Lock()
	body = []byte("not a bundle")
	mu.Unlock()
	if _, err := src.Refresh(context.Background()); err == nil || !trusted(leafB.Cert) {
		t.Fatalf("broken bundle: %v; the last good one must stay", err)
	}
	// The same bundle as a PEM file.
	file := filepath.Join(t.TempDir(), "bundle.p7b")
	pem := hispA.Run(t, "crl2pkcs7", "-nocrl", "-certfile", hispA.Path("ca.pem"))
	if err := os.WriteFile(file, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	fsrc := &certs.BundleSource{Location: file, Store: store}
	if _, err := fsrc.Refresh(context.Background()); err != nil || !trusted(leafA.Cert) {
		t.Fatalf("bundle from a PEM file: %v", err)
	}
}

// FuzzParseP7B: bundles come from the network; the parser must not panic.
func FuzzParseP7B(f *testing.F) {
	f.Add([]byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n"))
	f.Add([]byte{0x30, 0x80, 0x06, 0x09})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = certs.ParseP7B(data)
	})
}
