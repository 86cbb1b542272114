package smartstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

func newService(t testing.TB) (*gateway.Service, *storetest.ManualClock) {
	t.Helper()
	st, err := litestore.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"), storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sealer, err := gateway.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewManualClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	return gateway.NewService(st, sealer, clock, gateway.DefaultConfig(), nil), clock
}

func jwksFor(t testing.TB, kid string, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := smart.PublicJWKS(smart.PublicKeyWithKID{KID: kid, Key: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRegisterValidates(t *testing.T) {
	svc, _ := newService(t)
	s := smartstore.New(svc)
	good := jwksFor(t, "k1", newKey(t))
	cases := []struct {
		name    string
		client  smart.Client
		jwks    []byte
		wantErr string
	}{
		{"ok", smart.Client{ID: "ehr-1", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}}, good, ""},
		{"no org", smart.Client{ID: "ehr-2", Scopes: []string{"system/Task.rs"}}, good, "organisation"},
		{"no scopes", smart.Client{ID: "ehr-3", OrgID: "clinic-a"}, good, "scope"},
		{"bad scope", smart.Client{ID: "ehr-4", OrgID: "clinic-a", Scopes: []string{"patient/Task.read"}}, good, "scope"},
		{"bad jwks", smart.Client{ID: "ehr-5", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}}, []byte(`{"keys":[{"kty":"oct"}]}`), "jwks"},
		{"empty jwks", smart.Client{ID: "ehr-6", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}}, []byte(`{"keys":[]}`), "jwks"},
		{"not json", smart.Client{ID: "ehr-7", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}}, []byte(`keys`), "jwks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Register(t.Context(), "user:admin", tc.client, tc.jwks)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				if _, err := s.Client(t.Context(), tc.client.ID); !errors.Is(err, smart.ErrUnknownClient) {
					t.Fatalf("refused client was stored: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			back, err := s.Client(t.Context(), tc.client.ID)
			if err != nil {
				t.Fatal(err)
			}
			if back.OrgID != got.OrgID || len(back.JWKS) != 1 || back.JWKS[0].KID != "k1" || strings.Join(back.Scopes, " ") != "system/Task.rs" {
				t.Fatalf("stored client %+v", back)
			}
		})
	}
}

func TestRegisterReplacesAndAudits(t *testing.T) {
	svc, _ := newService(t)
	s := smartstore.New(svc)
	ctx := t.Context()
	c, err := s.Register(ctx, "user:admin", smart.Client{OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}}, jwksFor(t, "k1", newKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == "" {
		t.Fatal("no id assigned")
	}
	c.Scopes = []string{"system/Task.rs", "system/Task.u"}
	if _, err := s.Register(ctx, "user:admin", c, jwksFor(t, "k2", newKey(t))); err != nil {
		t.Fatal(err)
	}
	back, err := s.Client(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.JWKS.Lookup("k2"); !ok || len(back.Scopes) != 2 {
		t.Fatalf("replacement not stored: %+v", back)
	}
	all, err := s.Clients(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("clients: %d %v", len(all), err)
	}
	var versions []string
	for e, err := range svc.AuditEntries(ctx, gateway.AuditQuery{Tenant: "clinic-a"}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Action == "smart.client-registered" {
			versions = append(versions, e.Detail["version"])
			if strings.Contains(strings.Join(mapValues(e.Detail), " "), `"x"`) {
				t.Errorf("key material in the trail: %v", e.Detail)
			}
		}
	}
	if strings.Join(versions, ",") != "1,2" {
		t.Fatalf("audited registrations: %v", versions)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestSeenFirstWriterWins(t *testing.T) {
	svc, clock := newService(t)
	s := smartstore.New(svc)
	exp := clock.Now().Add(time.Minute)
	steps := []struct {
		client, jti string
		want        bool
	}{
		{"ehr-1", "a", false},
		{"ehr-1", "a", true},
		{"ehr-1", "b", false},
		{"ehr-2", "a", false},
		{"ehr-2", "a", true},
	}
	for i, st := range steps {
		got, err := s.Seen(t.Context(), st.client, st.jti, exp)
		if err != nil || got != st.want {
			t.Fatalf("step %d: Seen(%s,%s) = %v, %v; want %v", i, st.client, st.jti, got, err, st.want)
		}
	}
	// A second Store over the same database shares the cache.
	if got, err := smartstore.New(svc).Seen(t.Context(), "ehr-1", "b", exp); err != nil || !got {
		t.Fatalf("second instance: %v %v", got, err)
	}
}

// TestTokenServerOverTheStore drives the real token endpoint over a
// listener with the store as registry and replay cache: a fresh assertion
// gets a token, the same assertion again is refused.
func TestTokenServerOverTheStore(t *testing.T) {
	svc, _ := newService(t)
	s := smartstore.New(svc)
	key := newKey(t)
	if _, err := s.Register(t.Context(), "user:admin", smart.Client{ID: "ehr-1", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}},
		jwksFor(t, "k1", key)); err != nil {
		t.Fatal(err)
	}
	signKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ts, err := smart.NewTokenServer(smart.TokenServerConfig{IssuerBase: srv.URL, Clients: s, Replay: s, Key: signKey})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(smart.TokenPath, ts)
	src := &smart.TokenSource{TokenURL: ts.TokenURL(), ClientID: "ehr-1", Key: key, KeyID: "k1", Scopes: []string{"system/Task.rs"}, HTTPClient: srv.Client()}
	assertion, err := src.Assertion()
	if err != nil {
		t.Fatal(err)
	}
	post := func() int {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Task.rs"},
			"client_assertion_type": {smart.ClientAssertionType}, "client_assertion": {assertion}}
		resp, err := srv.Client().PostForm(ts.TokenURL(), form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusOK {
		t.Fatalf("first use: %d", code)
	}
	if code := post(); code != http.StatusBadRequest {
		t.Fatalf("replay: %d, want 400 (invalid_client)", code)
	}
	other := &smart.TokenSource{TokenURL: ts.TokenURL(), ClientID: "ehr-unknown", Key: key, KeyID: "k1", Scopes: []string{"system/Task.rs"}, HTTPClient: srv.Client()}
	var te *smart.TokenError
	if _, err := other.Token(t.Context()); !errors.As(err, &te) || te.Code != smart.CodeInvalidClient {
		t.Fatalf("unknown client: %v", err)
	}
}
