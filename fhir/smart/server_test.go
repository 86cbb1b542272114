package smart

import (
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenServerAssertionChecks(t *testing.T) {
	h := newHarness(t)
	rsaDER, err := x509.MarshalPKIXPublicKey(key(t, "rsa").Public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		mutate     func(*assertionSpec)
		wantStatus int
		wantCode   string
		wantReason string // substring of Decision.Reason, and of error_description unless quiet
		quiet      bool   // the caller only learns "client authentication failed"
	}{
		{
			name:       "valid RS384",
			mutate:     func(*assertionSpec) {},
			wantStatus: http.StatusOK,
		},
		{
			name: "valid ES384",
			mutate: func(s *assertionSpec) {
				s.method, s.key = jwt.SigningMethodES384, key(t, "p384")
				s.header["kid"] = "ec-1"
				s.claims["iss"], s.claims["sub"] = ecClientID, ecClientID
			},
			wantStatus: http.StatusOK,
		},
		{
			name:       "bad signature",
			mutate:     func(s *assertionSpec) { s.key = key(t, "rsa-other") },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "signature is invalid", quiet: true,
		},
		{
			name:       "wrong kid",
			mutate:     func(s *assertionSpec) { s.header["kid"] = "rsa-2" },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "kid is not in", quiet: true,
		},
		{
			name:       "missing kid",
			mutate:     func(s *assertionSpec) { delete(s.header, "kid") },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "no kid",
		},
		{
			name: "expired assertion",
			mutate: func(s *assertionSpec) {
				s.claims["exp"] = time.Date(2026, 3, 2, 8, 59, 0, 0, time.UTC).Unix()
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "expired",
		},
		{
			name:       "missing exp",
			mutate:     func(s *assertionSpec) { delete(s.claims, "exp") },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "lacks a required claim",
		},
		{
			name: "exp too far ahead",
			mutate: func(s *assertionSpec) {
				s.claims["exp"] = time.Date(2026, 3, 2, 9, 5, 1, 0, time.UTC).Unix()
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "more than five minutes",
		},
		{
			name: "exp exactly five minutes ahead",
			mutate: func(s *assertionSpec) {
				s.claims["exp"] = time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC).Unix()
			},
			wantStatus: http.StatusOK,
		},
		{
			name: "iat in the future",
			mutate: func(s *assertionSpec) {
				s.claims["iat"] = time.Date(2026, 3, 2, 9, 1, 0, 0, time.UTC).Unix()
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "not valid yet",
		},
		{
			name:       "missing jti",
			mutate:     func(s *assertionSpec) { delete(s.claims, "jti") },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "no jti",
		},
		{
			name:       "wrong aud",
			mutate:     func(s *assertionSpec) { s.claims["aud"] = "https://ehr.example.test/auth/token" },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "aud is not this token endpoint",
		},
		{
			name:       "missing aud",
			mutate:     func(s *assertionSpec) { delete(s.claims, "aud") },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "aud",
		},
		{
			name:       "sub differs from iss",
			mutate:     func(s *assertionSpec) { s.claims["sub"] = ecClientID },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "iss and sub",
		},
		{
			name: "alg none",
			mutate: func(s *assertionSpec) {
				s.method, s.key = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "alg must be RS384 or ES384",
		},
		{
			name: "HS256 keyed with the client's public key",
			mutate: func(s *assertionSpec) {
				s.method, s.key = jwt.SigningMethodHS256, rsaDER
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "alg must be RS384 or ES384",
		},
		{
			name:       "RS256 is not allowed",
			mutate:     func(s *assertionSpec) { s.method = jwt.SigningMethodRS256 },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "alg must be RS384 or ES384",
		},
		{
			name: "ES384 header on an RSA kid",
			mutate: func(s *assertionSpec) {
				s.method, s.key = jwt.SigningMethodES384, key(t, "p384")
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "does not fit alg", quiet: true,
		},
		{
			name:       "typ is not JWT",
			mutate:     func(s *assertionSpec) { s.header["typ"] = "at+jwt" },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "typ must be JWT",
		},
		{
			// SMART Backend Services: a jku that is not the client's
			// registered JWKS URL fails signature verification; clients
			// here register a JWKS document, so no jku is registered.
			name:       "jku header",
			mutate:     func(s *assertionSpec) { s.header["jku"] = "https://keys.example.test/jwks.json" },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "jku",
		},
		{
			name: "unknown client",
			mutate: func(s *assertionSpec) {
				s.claims["iss"], s.claims["sub"] = "client-nobody", "client-nobody"
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "unknown client", quiet: true,
		},
		{
			name: "disabled client",
			mutate: func(s *assertionSpec) {
				s.claims["iss"], s.claims["sub"] = disabledClientID, disabledClientID
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient, wantReason: "disabled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := h.validSpec(t)
			tt.mutate(spec)
			got := h.postForm(t, tokenForm(spec.sign(t), "system/Task.rs"))
			d := h.lastDecision(t)
			if got.status != tt.wantStatus || got.Error != tt.wantCode {
				t.Fatalf("got HTTP %d %q (%s), want HTTP %d %q", got.status, got.Error, got.Description, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == http.StatusOK {
				if got.AccessToken == "" || got.TokenType != "bearer" || got.ExpiresIn != 300 || got.Scope != "system/Task.rs" {
					t.Errorf("success body = %+v", got)
				}
				if !d.Granted || d.Reason != "" || d.TokenID == "" || d.OrgID != testOrgID {
					t.Errorf("decision = %+v, want granted with token id and org", d)
				}
				return
			}
			switch {
			case tt.quiet && got.Description != authFailed:
				t.Errorf("error_description = %q, want the uninformative %q", got.Description, authFailed)
			case !tt.quiet && !strings.Contains(got.Description, tt.wantReason):
				t.Errorf("error_description = %q, want it to contain %q", got.Description, tt.wantReason)
			}
			if d.Granted || !strings.HasPrefix(d.Reason, tt.wantCode+": ") || !strings.Contains(d.Reason, tt.wantReason) {
				t.Errorf("decision = %+v, want refusal %s ... %s", d, tt.wantCode, tt.wantReason)
			}
		})
	}
}

func TestTokenServerRequestChecks(t *testing.T) {
	h := newHarness(t)
	valid := func() url.Values { return tokenForm(h.validSpec(t).sign(t), "system/Task.rs") }
	with := func(f func(url.Values)) string {
		v := valid()
		f(v)
		return v.Encode()
	}
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
	}{
		{"json body", "application/json", `{"grant_type":"client_credentials"}`, 400, CodeInvalidRequest},
		{"missing grant_type", form, with(func(v url.Values) { v.Del("grant_type") }), 400, CodeInvalidRequest},
		{"authorization_code grant", form, with(func(v url.Values) { v.Set("grant_type", "authorization_code") }), 400, CodeUnsupportedGrantType},
		{"jwt-bearer grant", form, with(func(v url.Values) {
			v.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		}), 400, CodeUnsupportedGrantType},
		{"missing assertion", form, with(func(v url.Values) { v.Del("client_assertion") }), 400, CodeInvalidClient},
		{"missing assertion type", form, with(func(v url.Values) { v.Del("client_assertion_type") }), 400, CodeInvalidClient},
		{"saml assertion type", form, with(func(v url.Values) {
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		}), 400, CodeInvalidClient},
		{"client secret beside the assertion", form, with(func(v url.Values) { v.Set("client_secret", "hunter2") }), 400, CodeInvalidRequest},
		{"repeated scope", form, with(func(v url.Values) { v.Add("scope", "system/Patient.read") }), 400, CodeInvalidRequest},
		{"missing scope", form, with(func(v url.Values) { v.Del("scope") }), 400, CodeInvalidRequest},
		{"client_id differs from iss", form, with(func(v url.Values) { v.Set("client_id", ecClientID) }), 400, CodeInvalidClient},
		{"garbage assertion", form, with(func(v url.Values) { v.Set("client_assertion", "not.a.jwt") }), 400, CodeInvalidClient},
		{"client_id equal to iss", form, with(func(v url.Values) { v.Set("client_id", rsaClientID) }), 200, ""},
		{"charset parameter", form + "; charset=utf-8", with(func(url.Values) {}), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.post(t, tt.contentType, tt.body)
			if got.status != tt.wantStatus || got.Error != tt.wantCode {
				t.Fatalf("got HTTP %d %q (%s), want HTTP %d %q", got.status, got.Error, got.Description, tt.wantStatus, tt.wantCode)
			}
			if d := h.lastDecision(t); d.Granted != (tt.wantStatus == 200) {
				t.Errorf("decision granted = %v, want %v", d.Granted, tt.wantStatus == 200)
			}
		})
	}

	t.Run("GET is refused", func(t *testing.T) {
		resp, err := http.Get(h.tokenURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("GET: HTTP %d Allow %q, want 405 POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func TestTokenServerReplay(t *testing.T) {
	h := newHarness(t)
	assertion := h.validSpec(t).sign(t)
	if got := h.postForm(t, tokenForm(assertion, "system/Task.rs")); got.status != http.StatusOK {
		t.Fatalf("first use: HTTP %d %s %s", got.status, got.Error, got.Description)
	}
	got := h.postForm(t, tokenForm(assertion, "system/Task.rs"))
	if got.status != http.StatusBadRequest || got.Error != CodeInvalidClient || !strings.Contains(got.Description, "already used") {
		t.Fatalf("replay: HTTP %d %s %s, want 400 invalid_client already used", got.status, got.Error, got.Description)
	}
	// After the assertion expires the entry may lapse, but the assertion
	// itself is then refused as expired, never accepted again.
	h.clock.Advance(5 * time.Minute)
	got = h.postForm(t, tokenForm(assertion, "system/Task.rs"))
	if got.status != http.StatusBadRequest || !strings.Contains(got.Description, "expired") {
		t.Fatalf("after expiry: HTTP %d %s %s, want 400 expired", got.status, got.Error, got.Description)
	}
}

func TestTokenServerScopes(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name      string
		clientEC  bool
		requested string
		wantCode  string
		wantScope string
	}{
		{name: "exact", requested: "system/Task.cruds", wantScope: "system/Task.cruds"},
		{name: "narrowed to allowed ops", requested: "system/ServiceRequest.cruds", wantScope: "system/ServiceRequest.rs"},
		{name: "v1 kept in v1 syntax", requested: "system/Patient.read", wantScope: "system/Patient.read"},
		{name: "v1 write narrowed", requested: "system/Task.write", wantScope: "system/Task.write"},
		{name: "wildcard request narrowed to types", requested: "system/*.read", wantScope: "system/Task.read system/ServiceRequest.read system/Patient.read"},
		{name: "partially allowed", requested: "system/Task.r system/Practitioner.r", wantScope: "system/Task.r"},
		{name: "unparseable ones dropped", requested: "openid patient/Task.read system/Task.s", wantScope: "system/Task.s"},
		{name: "nothing allowed", requested: "system/Practitioner.read", wantCode: CodeInvalidScope},
		{name: "write not allowed", requested: "system/ServiceRequest.cud", wantCode: CodeInvalidScope},
		{name: "only non-system scopes", requested: "launch openid fhirUser", wantCode: CodeInvalidScope},
		{name: "wildcard client", clientEC: true, requested: "system/Task.cruds system/Consent.r", wantScope: "system/Task.rs system/Consent.r"},
		{name: "wildcard client refuses writes", clientEC: true, requested: "system/Task.c", wantCode: CodeInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := h.validSpec(t)
			if tt.clientEC {
				spec.method, spec.key = jwt.SigningMethodES384, key(t, "p384")
				spec.header["kid"] = "ec-1"
				spec.claims["iss"], spec.claims["sub"] = ecClientID, ecClientID
			}
			got := h.postForm(t, tokenForm(spec.sign(t), tt.requested))
			if tt.wantCode != "" {
				if got.status != http.StatusBadRequest || got.Error != tt.wantCode {
					t.Fatalf("got HTTP %d %q, want 400 %q", got.status, got.Error, tt.wantCode)
				}
				if d := h.lastDecision(t); d.Granted || strings.Join(d.Scopes, " ") != strings.Join(strings.Fields(tt.requested), " ") {
					t.Errorf("decision = %+v, want refusal listing the requested scopes", d)
				}
				return
			}
			if got.status != http.StatusOK || got.Scope != tt.wantScope {
				t.Fatalf("got HTTP %d scope %q (%s), want 200 %q", got.status, got.Scope, got.Description, tt.wantScope)
			}
			p, err := h.ts.Verifier().Verify(t.Context(), got.AccessToken)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if FormatScopes(p.Scopes) != tt.wantScope {
				t.Errorf("token scopes = %q, want %q", FormatScopes(p.Scopes), tt.wantScope)
			}
		})
	}
}

func TestNewTokenServerConfig(t *testing.T) {
	reg, replay := &MemoryRegistry{}, NewMemoryReplayCache(nil)
	tests := []struct {
		name    string
		cfg     TokenServerConfig
		wantErr bool
	}{
		{"ok EC", TokenServerConfig{IssuerBase: "https://gw.example.test/fhir/", Clients: reg, Replay: replay, Key: key(t, "p256")}, false},
		{"ok RSA", TokenServerConfig{IssuerBase: "https://gw.example.test", Clients: reg, Replay: replay, Key: key(t, "rsa")}, false},
		{"P-384 access token key", TokenServerConfig{IssuerBase: "https://gw.example.test", Clients: reg, Replay: replay, Key: key(t, "p384")}, true},
		{"no issuer", TokenServerConfig{Clients: reg, Replay: replay, Key: key(t, "p256")}, true},
		{"relative issuer", TokenServerConfig{IssuerBase: "/fhir", Clients: reg, Replay: replay, Key: key(t, "p256")}, true},
		{"no registry", TokenServerConfig{IssuerBase: "https://gw.example.test", Replay: replay, Key: key(t, "p256")}, true},
		{"no replay cache", TokenServerConfig{IssuerBase: "https://gw.example.test", Clients: reg, Key: key(t, "p256")}, true},
		{"no key", TokenServerConfig{IssuerBase: "https://gw.example.test", Clients: reg, Replay: replay}, true},
		{"negative skew", TokenServerConfig{IssuerBase: "https://gw.example.test", Clients: reg, Replay: replay, Key: key(t, "p256"), ClockSkew: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := NewTokenServer(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && ts.TokenURL() != strings.TrimRight(tt.cfg.IssuerBase, "/")+TokenPath {
				t.Errorf("TokenURL = %q", ts.TokenURL())
			}
		})
	}
}

func TestTokenServerClockSkew(t *testing.T) {
	h := newHarness(t)
	skewed, err := NewTokenServer(TokenServerConfig{
		IssuerBase: h.srv.URL, Clients: h.ts.cfg.Clients, Replay: NewMemoryReplayCache(h.clock.Now),
		Key: key(t, "p256"), Clock: h.clock.Now, ClockSkew: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		exp    time.Duration // relative to the server clock
		wantOK bool
	}{
		{"expired within skew", -20 * time.Second, true},
		{"expired beyond skew", -40 * time.Second, false},
		{"ahead within skew", 5*time.Minute + 20*time.Second, true},
		{"ahead beyond skew", 5*time.Minute + 40*time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := h.validSpec(t)
			spec.claims["exp"] = h.clock.Now().Add(tt.exp).Unix()
			delete(spec.claims, "iat")
			v, ref := skewed.verifyAssertion(t.Context(), spec.sign(t), "")
			if (ref == nil) != tt.wantOK {
				t.Fatalf("refusal = %+v, want ok %v", ref, tt.wantOK)
			}
			if ref == nil && (v.client.ID != rsaClientID || v.jti == "") {
				t.Errorf("verified = %+v", v)
			}
		})
	}
	// Runs last: it moves the clock. An assertion still accepted within
	// the skew after its exp must still be remembered as used.
	t.Run("replay within skew after exp", func(t *testing.T) {
		spec := h.validSpec(t)
		spec.claims["exp"] = h.clock.Now().Add(10 * time.Second).Unix()
		assertion := spec.sign(t)
		if _, ref := skewed.verifyAssertion(t.Context(), assertion, ""); ref != nil {
			t.Fatalf("first use refused: %+v", ref.err)
		}
		h.clock.Advance(25 * time.Second)
		_, ref := skewed.verifyAssertion(t.Context(), assertion, "")
		if ref == nil || !strings.Contains(ref.err.Description, "already used") {
			t.Fatalf("replay 15 s after exp with 30 s skew: refusal %+v, want already used", ref)
		}
	})
}

func TestTokenServerRefusesNonCanonicalEncoding(t *testing.T) {
	h := newHarness(t)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	assertion := h.validSpec(t).sign(t)
	// A 256-byte RS384 signature is 342 characters; the last one carries
	// two signature bits and four padding bits that must be zero. Setting a
	// padding bit leaves the decoded signature unchanged.
	last := strings.IndexByte(alphabet, assertion[len(assertion)-1])
	if last < 0 || last&1 != 0 {
		t.Fatalf("unexpected last character %q", assertion[len(assertion)-1])
	}
	malleated := assertion[:len(assertion)-1] + string(alphabet[last|1])
	got := h.postForm(t, tokenForm(malleated, "system/Task.rs"))
	if got.status != http.StatusBadRequest || got.Error != CodeInvalidClient {
		t.Fatalf("non-canonical signature: HTTP %d %q, want 400 invalid_client", got.status, got.Error)
	}
	// The canonical form of the same assertion is still fresh and accepted.
	if got := h.postForm(t, tokenForm(assertion, "system/Task.rs")); got.status != http.StatusOK {
		t.Fatalf("canonical assertion: HTTP %d %s %s", got.status, got.Error, got.Description)
	}
}
