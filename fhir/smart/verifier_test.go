package smart

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issueFor obtains an access token for the RSA client over the real listener.
func (h *harness) issueFor(t *testing.T, scope string) string {
	t.Helper()
	got := h.postForm(t, tokenForm(h.validSpec(t).sign(t), scope))
	if got.status != http.StatusOK {
		t.Fatalf("token request: HTTP %d %s %s", got.status, got.Error, got.Description)
	}
	return got.AccessToken
}

// resign re-signs a token's claims, with edits, using the given method and key.
func resign(t *testing.T, token string, method jwt.SigningMethod, signKey any, header map[string]any, edit func(jwt.MapClaims)) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	edit(claims)
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	out, err := tok.SignedString(signKey)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifier(t *testing.T) {
	h := newHarness(t)
	good := h.issueFor(t, "system/Task.cruds system/ServiceRequest.rs")
	parts := strings.Split(good, ".")

	// Tamper: widen the scope in the payload but keep the old signature.
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["scope"] = "system/*.cruds"
	widened, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(widened) + "." + parts[2]

	atHeader := map[string]any{"typ": "at+jwt"}
	p256 := key(t, "p256")
	tests := []struct {
		name    string
		token   string
		advance time.Duration
		wantErr bool
	}{
		{name: "valid", token: good},
		{name: "valid just before expiry", token: good, advance: 299 * time.Second},
		{name: "expired", token: good, advance: 5 * time.Minute},
		{name: "tampered payload", token: tampered, wantErr: true},
		{name: "truncated signature", token: good[:len(good)-4], wantErr: true},
		{name: "garbage", token: "abc", wantErr: true},
		{name: "wrong issuer", wantErr: true, token: resign(t, good, jwt.SigningMethodES256, p256, atHeader, func(c jwt.MapClaims) {
			c["iss"] = "https://other-gateway.example.test"
		})},
		{name: "wrong audience", wantErr: true, token: resign(t, good, jwt.SigningMethodES256, p256, atHeader, func(c jwt.MapClaims) {
			c["aud"] = "https://ehr.example.test/fhir"
		})},
		{name: "signed by another key", wantErr: true, token: resign(t, good, jwt.SigningMethodES256, key(t, "p256-other"), atHeader, func(jwt.MapClaims) {})},
		{name: "HS256 keyed with nothing secret", wantErr: true, token: resign(t, good, jwt.SigningMethodHS256, []byte("public"), atHeader, func(jwt.MapClaims) {})},
		{name: "not an access token typ", wantErr: true, token: resign(t, good, jwt.SigningMethodES256, p256, map[string]any{"typ": "JWT"}, func(jwt.MapClaims) {})},
		{name: "no exp", wantErr: true, token: resign(t, good, jwt.SigningMethodES256, p256, atHeader, func(c jwt.MapClaims) { delete(c, "exp") })},
		{name: "client_id differs from sub", wantErr: true, token: resign(t, good, jwt.SigningMethodES256, p256, atHeader, func(c jwt.MapClaims) {
			c["client_id"] = ecClientID
		})},
		{name: "unparseable scope", wantErr: true, token: resign(t, good, jwt.SigningMethodES256, p256, atHeader, func(c jwt.MapClaims) {
			c["scope"] = "patient/*.read"
		})},
		{name: "empty scope", wantErr: true, token: resign(t, good, jwt.SigningMethodES256, p256, atHeader, func(c jwt.MapClaims) {
			c["scope"] = ""
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			clock.Advance(tt.advance)
			v, err := NewVerifier(VerifierConfig{Issuer: h.srv.URL, Key: p256.Public(), Clock: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(t.Context(), tt.token)
			wantErr := tt.wantErr || tt.advance >= 5*time.Minute
			if wantErr {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", p, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.ClientID != rsaClientID || p.OrgID != testOrgID || p.TokenID == "" ||
				!p.Expires.Equal(newFakeClock().Now().Add(5*time.Minute)) {
				t.Errorf("principal = %+v", p)
			}
			if !p.Allows("Task", Delete) || !p.Allows("ServiceRequest", Search) || p.Allows("ServiceRequest", Create) {
				t.Errorf("principal scopes %q allow the wrong things", FormatScopes(p.Scopes))
			}
		})
	}
}

func TestVerifierAuthenticate(t *testing.T) {
	h := newHarness(t)
	good := h.issueFor(t, "system/Task.rs")
	v := h.ts.Verifier()
	tests := []struct {
		name   string
		header string
		want   error
	}{
		{"bearer", "Bearer " + good, nil},
		{"lower-case scheme", "bearer " + good, nil},
		{"no header", "", ErrNoBearerToken},
		{"basic", "Basic Y2xpZW50OnNlY3JldA==", ErrNoBearerToken},
		{"empty token", "Bearer ", ErrNoBearerToken},
		{"bad token", "Bearer " + good + "x", ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/fhir/Task", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			p, err := v.Authenticate(r)
			if tt.want == nil {
				if err != nil || p.ClientID != rsaClientID || !p.Allows("Task", Read) {
					t.Fatalf("Authenticate = %+v, %v", p, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Authenticate err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifierWithRSAKey(t *testing.T) {
	clock := newFakeClock()
	reg := &MemoryRegistry{}
	reg.Put(Client{ID: "c1", OrgID: "o1", JWKS: JWKS{{KID: "k", Key: key(t, "p384").Public()}}, Scopes: []string{"system/Task.rs"}})
	ts, err := NewTokenServer(TokenServerConfig{
		IssuerBase: "https://gw.example.test", Clients: reg, Replay: NewMemoryReplayCache(clock.Now),
		Key: key(t, "rsa"), Clock: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.issuer.issue(Client{ID: "c1", OrgID: "o1"}, []Scope{{Resource: "Task", Ops: Read}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ts.Verifier().Verify(t.Context(), tok.token)
	if err != nil || p.ClientID != "c1" || p.TokenID != tok.id {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
	hdr, _, _ := strings.Cut(tok.token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil || !strings.Contains(string(raw), `"alg":"RS256"`) {
		t.Errorf("header = %s, want RS256", raw)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  VerifierConfig
		ok   bool
	}{
		{"EC P-256", VerifierConfig{Issuer: "https://gw.example.test", Key: key(t, "p256").Public()}, true},
		{"RSA", VerifierConfig{Issuer: "https://gw.example.test", Key: key(t, "rsa").Public()}, true},
		{"P-384", VerifierConfig{Issuer: "https://gw.example.test", Key: key(t, "p384").Public()}, false},
		{"no issuer", VerifierConfig{Key: key(t, "p256").Public()}, false},
		{"no key", VerifierConfig{Issuer: "https://gw.example.test"}, false},
	}
	for _, tt := range tests {
		if _, err := NewVerifier(tt.cfg); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// flakyRegistry fails every lookup, as a registry whose database is down.
type flakyRegistry struct{}

func (flakyRegistry) Client(context.Context, string) (Client, error) {
	return Client{}, errors.New("database unavailable")
}

// TestVerifierEndsTokensOfDisabledClients: disabling a client (or
// removing it) ends the access tokens it already holds, not only its next
// token request; a registry that cannot answer is not the token's fault.
func TestVerifierEndsTokensOfDisabledClients(t *testing.T) {
	reg := &MemoryRegistry{}
	reg.Put(Client{ID: "c", OrgID: "o", Scopes: []string{"system/Task.r"}})
	ts, err := NewTokenServer(TokenServerConfig{
		IssuerBase: "https://gw.example.test", Clients: reg, Replay: NewMemoryReplayCache(nil), Key: key(t, "p256")})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ts.issuer.issue(Client{ID: "c", OrgID: "o"}, []Scope{{Resource: "Task", Ops: Read}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Verifier().Verify(t.Context(), issued.token); err != nil {
		t.Fatalf("token of an enabled client: %v", err)
	}
	reg.Put(Client{ID: "c", OrgID: "o", Scopes: []string{"system/Task.r"}, Disabled: true})
	if _, err := ts.Verifier().Verify(t.Context(), issued.token); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("token of a disabled client: %v; want invalid, disabled", err)
	}
	if _, err := ts.Verifier().Verify(t.Context(), mustIssue(t, ts, "gone")); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "no longer registered") {
		t.Fatalf("token of an unregistered client: %v; want invalid", err)
	}
	down, err := NewVerifier(VerifierConfig{Issuer: "https://gw.example.test", Key: key(t, "p256").Public(), Clients: flakyRegistry{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Verify(t.Context(), issued.token); err == nil || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("registry down: %v; want an error that is not an invalid token", err)
	}
}

func mustIssue(t *testing.T, ts *TokenServer, clientID string) string {
	t.Helper()
	issued, err := ts.issuer.issue(Client{ID: clientID, OrgID: "o"}, []Scope{{Resource: "Task", Ops: Read}})
	if err != nil {
		t.Fatal(err)
	}
	return issued.token
}
