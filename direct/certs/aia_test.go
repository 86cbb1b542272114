package certs_test

import (
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/internal/osslca"
)

// TestAIAFetcher completes a chain through an intermediate served as a DER
// certificate over real HTTP: fetched once, reused from the cache within
// the TTL (also with no network at all), fetched again after it; a URL
// that answers 404 is a refusal that names it, cached for FailTTL.
func TestAIAFetcher(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	var interDER []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/inter.cer" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		_, _ = w.Write(interDER)
	}))
	defer srv.Close()
	root := osslca.New(t, "")
	inter := root.NewIntermediate(t, "AIA Test Intermediate", "")
	interDER = inter.Run(t, "x509", "-in", inter.Path("ca.pem"), "-outform", "DER")
	inter.AIA = srv.URL + "/inter.cer"
	leaf, err := x509.ParseCertificate(inter.IssueLeaf(t, "leaf", osslca.Leaf{Email: "a@direct.aia.example"}))
	if err != nil {
		t.Fatal(err)
	}
	inter.AIA = srv.URL + "/missing.cer"
	orphan, err := x509.ParseCertificate(inter.IssueLeaf(t, "orphan", osslca.Leaf{Email: "b@direct.aia.example"}))
	if err != nil {
		t.Fatal(err)
	}
	anchors, err := certs.DecodeCertsPEM(root.CACert(t))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(anchors[0])

	now := time.Now()
	f := &certs.AIAFetcher{TTL: time.Hour, FailTTL: time.Minute, Now: func() time.Time { return now }}
	if _, err := f.CompleteCached(leaf, roots, nil, now); !errors.Is(err, certs.ErrAIANotFetched) {
		t.Fatalf("before any fetch: %v, want ErrAIANotFetched", err)
	}
	for i := range 2 {
		got, err := f.Complete(t.Context(), leaf, roots, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || string(got[0].Raw) != string(interDER) {
			t.Fatalf("round %d: %d certificates, want the intermediate", i, len(got))
		}
	}
	if _, err := f.CompleteCached(leaf, roots, nil, now); err != nil {
		t.Fatalf("from the cache: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d fetches within the TTL, want 1", n)
	}
	now = now.Add(61 * time.Minute)
	if _, err := f.Complete(t.Context(), leaf, roots, nil, now); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d fetches after the TTL, want 2", n)
	}
	// Already chaining: nothing to fetch.
	if got, err := f.Complete(t.Context(), leaf, roots, []*x509.Certificate{mustParse(t, interDER)}, now); err != nil || got != nil {
		t.Fatalf("with the intermediate at hand: %v, %v", got, err)
	}

	_, err = f.Complete(t.Context(), orphan, roots, nil, now)
	if !errors.Is(err, certs.ErrAIA) || !strings.Contains(err.Error(), srv.URL+"/missing.cer") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing issuer: %v", err)
	}
	if _, err := f.CompleteCached(orphan, roots, nil, now); errors.Is(err, certs.ErrAIANotFetched) || !errors.Is(err, certs.ErrAIA) {
		t.Fatalf("cached failure: %v", err)
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzParseCAIssuers: whatever a caIssuers URL serves, parsing returns
// certificates or an error, never a panic.
func FuzzParseCAIssuers(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, body []byte) {
		list, err := certs.ParseCAIssuers(body)
		if err == nil && len(list) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}
