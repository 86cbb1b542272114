package smime_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/smime"
)

func parseCRL(t *testing.T, der []byte) *x509.RevocationList {
	t.Helper()
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func TestHTTPCRLFetcher(t *testing.T) {
	der, err := fx.ca.CRL(fx.revoked.Cert)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/der":
			_, _ = w.Write(der)
		case "/pem":
			_, _ = w.Write(certs.EncodeCRLPEM(der))
		case "/huge":
			_, _ = w.Write(make([]byte, 4096))
		case "/garbage":
			_, _ = w.Write([]byte("not a CRL"))
		case "/hang":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name    string
		url     string
		fetcher *smime.HTTPCRLFetcher
		wantErr string
	}{
		{"DER", srv.URL + "/der", &smime.HTTPCRLFetcher{}, ""},
		{"PEM", srv.URL + "/pem", &smime.HTTPCRLFetcher{}, ""},
		{"not found", srv.URL + "/missing", &smime.HTTPCRLFetcher{}, "status 404"},
		{"over size limit", srv.URL + "/huge", &smime.HTTPCRLFetcher{MaxBytes: 1024}, "larger than"},
		{"not a CRL", srv.URL + "/garbage", &smime.HTTPCRLFetcher{}, "x509"},
		{"LDAP distribution point", "ldap://directory.example.test/cn=CRL", &smime.HTTPCRLFetcher{}, "only http"},
		{"server never answers", srv.URL + "/hang", &smime.HTTPCRLFetcher{Timeout: 100 * time.Millisecond}, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crl, err := tt.fetcher.FetchCRL(context.Background(), tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(fx.revoked.Cert.SerialNumber) != 0 {
				t.Errorf("unexpected entries %v", crl.RevokedCertificateEntries)
			}
		})
	}
}

func TestCRLCacheHonoursNextUpdate(t *testing.T) {
	crl := parseCRL(t, fx.crlDER)
	var fetches atomic.Int32
	src := smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) {
		fetches.Add(1)
		return crl, nil
	})
	now := fx.now
	cache := smime.NewCRLCache(src, func() time.Time { return now })
	steps := []struct {
		at          time.Time
		wantFetches int32
	}{
		{fx.now, 1},
		{fx.now.Add(time.Hour), 1},
		{crl.NextUpdate.Add(-time.Second), 1},
		{crl.NextUpdate.Add(time.Second), 2},
	}
	for _, s := range steps {
		now = s.at
		if _, err := cache.FetchCRL(context.Background(), "http://crl.example.test/ca.crl"); err != nil {
			t.Fatal(err)
		}
		if got := fetches.Load(); got != s.wantFetches {
			t.Errorf("at %v: %d fetches, want %d", s.at, got, s.wantFetches)
		}
	}
	failing := smime.NewCRLCache(smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) {
		return nil, errors.New("synthetic outage")
	}), func() time.Time { return now })
	if _, err := failing.FetchCRL(context.Background(), "http://crl.example.test/ca.crl"); err == nil {
		t.Error("fetch error swallowed")
	}
}

func TestVerifyRejectsUnusableCRL(t *testing.T) {
	foreign, err := fx.otherCA.CRL()
	if err != nil {
		t.Fatal(err)
	}
	serve := func(der []byte) smime.CRLFetcher {
		crl := parseCRL(t, der)
		return smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) { return crl, nil })
	}
	forged := parseCRL(t, fx.crlDER)
	forged.Signature = append([]byte(nil), forged.Signature...)
	forged.Signature[10] ^= 0xff
	tests := []struct {
		name    string
		fetcher smime.CRLFetcher
		now     time.Time
	}{
		{"CRL of another CA", serve(foreign), fx.now},
		{"CRL past NextUpdate", serve(fx.crlDER), fx.now.Add(48 * time.Hour)},
		{"CRL with a bad signature", smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) { return forged, nil }), fx.now},
	}
	signed := mustSign(t, fx.sender, entity("x"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fx.verifyOpts()
			opts.CRLs = tt.fetcher
			opts.Now = func() time.Time { return tt.now }
			if _, err := smime.Verify(context.Background(), signed, opts); !errors.Is(err, smime.ErrRevocationUnknown) {
				t.Fatalf("err = %v, want ErrRevocationUnknown", err)
			}
		})
	}
}
