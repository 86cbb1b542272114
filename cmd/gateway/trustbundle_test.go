package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/gateway/outbound"
)

// TestTrustBundleThroughOutboundGuard: the trust bundle URL serve loads
// at start goes through the outbound address guard like every other URL
// an operator or a partner supplies: a bundle on a loopback address is
// refused before any connection unless --allow-private-networks is set,
// and a bundle over the size bound is refused as too large. (certs check
// builds its bundle source with the same trustBundle.)
func TestTrustBundleThroughOutboundGuard(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if _, errOut, code := gw(t, dir, "certs", "dev", "--domain", "direct.clinic-a.example", "--out", certDir); code != 0 {
		t.Fatalf("certs dev: %s", errOut)
	}
	hisp, err := certs.NewDevCA("direct.hisp.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p7b, err := pkcs7.DegenerateCertificate(hisp.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	bundle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/bundle.p7b":
			_, _ = w.Write(p7b)
		case "/huge.p7b":
			_, _ = io.Copy(w, io.LimitReader(zeros{}, certs.BundleMaxSize+1))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(bundle.Close)

	edge := func(url string, private bool) error {
		t.Helper()
		ec := edgeConfig{DirectDomain: "direct.clinic-a.example", DirectCerts: certDir, TrustBundle: url, AllowPrivateNetworks: private}
		d, err := newDirectEdge(ec, t.TempDir(), nil, slog.New(slog.DiscardHandler), time.Now())
		if err == nil {
			_ = d.sender.Close()
		}
		return err
	}

	if err := edge(bundle.URL+"/bundle.p7b", false); !errors.Is(err, outbound.ErrNotPublic) {
		t.Fatalf("bundle on loopback without the allowance: %v, want the address guard's refusal", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the guard let %d request(s) reach the loopback bundle", n)
	}
	if err := edge(bundle.URL+"/huge.p7b", true); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a bundle over %d bytes: %v, want refused as too large", certs.BundleMaxSize, err)
	}
	hits.Store(0)
	if err := edge(bundle.URL+"/bundle.p7b", true); err != nil {
		t.Fatalf("bundle on loopback with --allow-private-networks: %v", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("%d fetches of the bundle, want 1", hits.Load())
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
