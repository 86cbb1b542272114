package smart

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenSourceEndToEnd(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name      string
		clientID  string
		key       crypto.Signer
		kid       string
		scopes    []string
		wantScope string
		wantAlg   string
	}{
		{"RS384", rsaClientID, key(t, "rsa"), "rsa-1", []string{"system/Task.cruds", "system/ServiceRequest.rs"}, "system/Task.cruds system/ServiceRequest.rs", "RS384"},
		{"ES384", ecClientID, key(t, "p384"), "ec-1", []string{"system/Task.read", "system/Patient.rs"}, "system/Task.read system/Patient.rs", "ES384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &TokenSource{
				TokenURL: h.tokenURL, ClientID: tt.clientID, Key: tt.key, KeyID: tt.kid,
				Scopes: tt.scopes, HTTPClient: h.srv.Client(), Clock: h.clock.Now,
			}
			assertion, err := src.Assertion()
			if err != nil {
				t.Fatal(err)
			}
			hdr, _, _ := strings.Cut(assertion, ".")
			if raw, err := decodeB64(hdr); err != nil || !strings.Contains(string(raw), `"alg":"`+tt.wantAlg+`"`) {
				t.Errorf("assertion header = %s, want alg %s", raw, tt.wantAlg)
			}

			tok, err := src.Token(t.Context())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if got := src.GrantedScope(); got != tt.wantScope {
				t.Errorf("GrantedScope = %q, want %q", got, tt.wantScope)
			}
			p, err := h.ts.Verifier().Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.ClientID != tt.clientID || p.OrgID != testOrgID || FormatScopes(p.Scopes) != tt.wantScope {
				t.Errorf("principal = %+v", p)
			}
			if d := h.lastDecision(t); !d.Granted || d.ClientID != tt.clientID || d.TokenID != p.TokenID {
				t.Errorf("decision = %+v, want granted for %s with token %s", d, tt.clientID, p.TokenID)
			}
		})
	}
}

func TestTokenSourceCaching(t *testing.T) {
	h := newHarness(t)
	src := &TokenSource{
		TokenURL: h.tokenURL, ClientID: rsaClientID, Key: key(t, "rsa"), KeyID: "rsa-1",
		Scopes: []string{"system/Task.rs"}, HTTPClient: h.srv.Client(), Clock: h.clock.Now,
	}
	first, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before := h.requestCount()

	// Concurrent callers within the lifetime share the cached token.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			tok, err := src.Token(context.Background())
			if err == nil && tok != first {
				err = errors.New("token changed while cached")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Advance(4*time.Minute + 29*time.Second)
	if tok, err := src.Token(t.Context()); err != nil || tok != first {
		t.Fatalf("within lifetime: token changed or err %v", err)
	}
	if got := h.requestCount(); got != before {
		t.Fatalf("cached calls sent %d requests, want 0", got-before)
	}

	// 30 s before expiry a new token is fetched.
	h.clock.Advance(time.Second)
	second, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if second == first || h.requestCount() != before+1 {
		t.Fatalf("near expiry: same token %v, requests %d, want a new token from 1 request", second == first, h.requestCount()-before)
	}

	src.Invalidate()
	if src.GrantedScope() != "" {
		t.Error("GrantedScope after Invalidate is not empty")
	}
	third, err := src.Token(t.Context())
	if err != nil || third == second || h.requestCount() != before+2 {
		t.Fatalf("after Invalidate: err %v, reused %v", err, third == second)
	}
}

func TestTokenSourceErrors(t *testing.T) {
	h := newHarness(t)
	base := TokenSource{
		TokenURL: h.tokenURL, ClientID: rsaClientID, Key: key(t, "rsa"), KeyID: "rsa-1",
		Scopes: []string{"system/Task.rs"}, HTTPClient: h.srv.Client(), Clock: h.clock.Now,
	}
	tests := []struct {
		name       string
		edit       func(*TokenSource)
		wantStatus int
		wantCode   string
	}{
		{"unknown client", func(s *TokenSource) { s.ClientID = "client-nobody" }, 400, CodeInvalidClient},
		{"disabled client", func(s *TokenSource) { s.ClientID = disabledClientID }, 400, CodeInvalidClient},
		{"wrong key", func(s *TokenSource) { s.Key = key(t, "rsa-other") }, 400, CodeInvalidClient},
		{"wrong kid", func(s *TokenSource) { s.KeyID = "rsa-9" }, 400, CodeInvalidClient},
		{"scope not allowed", func(s *TokenSource) { s.Scopes = []string{"system/Practitioner.read"} }, 400, CodeInvalidScope},
		{"aud mismatch", func(s *TokenSource) { s.TokenURL = h.srv.URL + TokenPath + "?x=1" }, 400, CodeInvalidClient},
		{"not a token endpoint", func(s *TokenSource) { s.TokenURL = h.srv.URL + "/nowhere" }, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &TokenSource{
				TokenURL: base.TokenURL, ClientID: base.ClientID, Key: base.Key, KeyID: base.KeyID,
				Scopes: base.Scopes, HTTPClient: base.HTTPClient, Clock: base.Clock,
			}
			tt.edit(src)
			tok, err := src.Token(t.Context())
			var terr *TokenError
			if !errors.As(err, &terr) || terr.Status != tt.wantStatus || terr.Code != tt.wantCode {
				t.Fatalf("Token = %q, %v; want TokenError HTTP %d %q", tok, err, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestTokenSourceBadConfig(t *testing.T) {
	tests := []struct {
		name string
		src  *TokenSource
	}{
		{"no key", &TokenSource{TokenURL: "https://ehr.example.test/token", ClientID: "c", KeyID: "k"}},
		{"no kid", &TokenSource{TokenURL: "https://ehr.example.test/token", ClientID: "c", Key: key(t, "p384")}},
		{"P-256 key", &TokenSource{TokenURL: "https://ehr.example.test/token", ClientID: "c", Key: key(t, "p256"), KeyID: "k"}},
		{"no url", &TokenSource{ClientID: "c", Key: key(t, "p384"), KeyID: "k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.src.Token(t.Context()); err == nil {
				t.Fatal("Token succeeded with a bad configuration")
			}
		})
	}
}

func TestTokenSourceResponseChecks(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{"mac token type", 200, `{"access_token":"x","token_type":"mac","expires_in":300}`, "not bearer"},
		{"no token", 200, `{"token_type":"bearer","expires_in":300}`, "no access_token"},
		{"negative lifetime", 200, `{"access_token":"x","token_type":"bearer","expires_in":-1}`, "negative"},
		{"not json", 200, `<html>`, "token response"},
		{"html error", 502, `<html>bad gateway</html>`, "without an OAuth error body"},
		{"oauth error", 400, `{"error":"invalid_scope","error_description":"no"}`, "invalid_scope: no (HTTP 400)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			src := &TokenSource{TokenURL: srv.URL, ClientID: "c", Key: key(t, "p384"), KeyID: "k", HTTPClient: srv.Client()}
			_, err := src.Token(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Token err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestTokenSourceNoLifetimeIsNotCached(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"opaque-1","token_type":"Bearer"}`))
	}))
	t.Cleanup(srv.Close)
	src := &TokenSource{TokenURL: srv.URL, ClientID: "c", Key: key(t, "p384"), KeyID: "k", HTTPClient: srv.Client()}
	for range 2 {
		if tok, err := src.Token(t.Context()); err != nil || tok != "opaque-1" {
			t.Fatalf("Token = %q, %v", tok, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("server saw %d requests, want 2 (no expires_in means no caching)", calls)
	}
}

func TestRefreshAfter(t *testing.T) {
	tests := []struct{ lifetime, want time.Duration }{
		{0, 0},
		{-time.Second, 0},
		{40 * time.Second, 20 * time.Second},
		{time.Minute, 30 * time.Second},
		{5 * time.Minute, 270 * time.Second},
		{time.Hour, time.Hour - 30*time.Second},
	}
	for _, tt := range tests {
		if got := refreshAfter(tt.lifetime); got != tt.want {
			t.Errorf("refreshAfter(%v) = %v, want %v", tt.lifetime, got, tt.want)
		}
	}
}
