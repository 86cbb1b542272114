package smart

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys generates the test keys once per test binary: RSA generation is
// the slowest step of the suite.
var testKeys = sync.OnceValue(func() map[string]crypto.Signer {
	keys := make(map[string]crypto.Signer)
	for _, name := range []string{"rsa", "rsa-other"} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[name] = k
	}
	for name, curve := range map[string]elliptic.Curve{
		"p384": elliptic.P384(), "p384-other": elliptic.P384(),
		"p256": elliptic.P256(), "p256-other": elliptic.P256(),
	} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			panic(err)
		}
		keys[name] = k
	}
	return keys
})

func key(t testing.TB, name string) crypto.Signer {
	t.Helper()
	k, ok := testKeys()[name]
	if !ok {
		t.Fatalf("no test key %q", name)
	}
	return k
}

// fakeClock is a settable clock shared by server and client in a test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is a token server on a real listener with three registered clients.
type harness struct {
	srv      *httptest.Server
	clock    *fakeClock
	ts       *TokenServer
	tokenURL string
	replay   *MemoryReplayCache

	mu        sync.Mutex
	decisions []Decision
	requests  int
}

const (
	rsaClientID      = "client-rsa-0001"
	ecClientID       = "client-ec-0002"
	disabledClientID = "client-off-0003"
	testOrgID        = "org-synthetic-clinic-17"
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with the token server's configuration
// adjusted by edit (when not nil) before the server is made.
func newHarnessWith(t *testing.T, edit func(*TokenServerConfig)) *harness {
	t.Helper()
	h := &harness{clock: newFakeClock()}
	mux := http.NewServeMux()
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests++
		h.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)

	reg := &MemoryRegistry{}
	reg.Put(Client{
		ID: rsaClientID, OrgID: testOrgID,
		JWKS:   JWKS{{KID: "rsa-1", Key: key(t, "rsa").Public()}},
		Scopes: []string{"system/Task.cruds", "system/ServiceRequest.rs", "system/Patient.read"},
	})
	reg.Put(Client{
		ID: ecClientID, OrgID: testOrgID,
		JWKS:   JWKS{{KID: "ec-1", Key: key(t, "p384").Public(), Alg: "ES384"}},
		Scopes: []string{"system/*.rs"},
	})
	reg.Put(Client{
		ID: disabledClientID, OrgID: testOrgID, Disabled: true,
		JWKS:   JWKS{{KID: "rsa-1", Key: key(t, "rsa").Public()}},
		Scopes: []string{"system/*.cruds"},
	})
	h.replay = NewMemoryReplayCache(h.clock.Now)
	cfg := TokenServerConfig{
		IssuerBase: h.srv.URL,
		Clients:    reg,
		Replay:     h.replay,
		Key:        key(t, "p256"),
		KeyID:      "gw-at-1",
		Clock:      h.clock.Now,
		OnDecision: func(_ context.Context, d Decision) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.decisions = append(h.decisions, d)
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	ts, err := NewTokenServer(cfg)
	if err != nil {
		t.Fatalf("NewTokenServer: %v", err)
	}
	h.ts = ts
	h.tokenURL = h.srv.URL + TokenPath
	mux.Handle(TokenPath, ts)
	mux.Handle(ConfigurationPath, SmartConfiguration(h.srv.URL))
	return h
}

func (h *harness) lastDecision(t *testing.T) Decision {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.decisions) == 0 {
		t.Fatal("no decision recorded")
	}
	return h.decisions[len(h.decisions)-1]
}

func (h *harness) requestCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// assertionSpec describes a client assertion to sign; tests mutate it.
type assertionSpec struct {
	method jwt.SigningMethod
	key    any
	header map[string]any
	claims jwt.MapClaims
}

// validSpec is a correct assertion for the RSA client at time now.
func (h *harness) validSpec(t *testing.T) *assertionSpec {
	t.Helper()
	now := h.clock.Now()
	jti, err := randomID()
	if err != nil {
		t.Fatal(err)
	}
	return &assertionSpec{
		method: jwt.SigningMethodRS384,
		key:    key(t, "rsa"),
		header: map[string]any{"kid": "rsa-1", "typ": "JWT"},
		claims: jwt.MapClaims{
			"iss": rsaClientID, "sub": rsaClientID, "aud": h.tokenURL,
			"exp": now.Add(4 * time.Minute).Unix(), "iat": now.Unix(), "jti": jti,
		},
	}
}

func (s *assertionSpec) sign(t *testing.T) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, s.claims)
	for k, v := range s.header {
		tok.Header[k] = v
	}
	signed, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatalf("sign assertion: %v", err)
	}
	return signed
}

func tokenForm(assertion, scope string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {ClientAssertionType},
		"client_assertion":      {assertion},
		"scope":                 {scope},
	}
}

// tokenReply is a decoded token endpoint response of either kind.
type tokenReply struct {
	status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
	header      http.Header
}

func (h *harness) post(t *testing.T, contentType, body string) tokenReply {
	t.Helper()
	return h.postWith(t, http.DefaultClient, contentType, body)
}

// postWith posts a token request with client c.
func (h *harness) postWith(t *testing.T, c *http.Client, contentType, body string) tokenReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.tokenURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return h.do(t, c, req)
}

// do sends a token request and decodes the reply, which must never be
// cached.
func (h *harness) do(t *testing.T, c *http.Client, req *http.Request) tokenReply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST token: %v", err)
	}
	defer resp.Body.Close()
	var r tokenReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode token response (HTTP %d): %v", resp.StatusCode, err)
	}
	r.status, r.header = resp.StatusCode, resp.Header
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	return r
}

func (h *harness) postForm(t *testing.T, form url.Values) tokenReply {
	t.Helper()
	return h.post(t, "application/x-www-form-urlencoded", form.Encode())
}
