package smart

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/referralgw/gateway/internal/retryafter"
)

// assertionLifetime is the exp distance of assertions TokenSource signs; it
// stays under MaxAssertionLifetime so a server clock a little behind ours
// still accepts it.
const assertionLifetime = 4 * time.Minute

// maxCachedSeconds caps the expires_in a TokenSource believes, one day.
const maxCachedSeconds = 24 * 60 * 60

// maxTokenResponseBytes bounds the token endpoint response read.
const maxTokenResponseBytes = 1 << 20

// TokenSource obtains access tokens from another server's SMART Backend
// Services token endpoint and caches each until shortly before it expires.
// Set the exported fields before first use and do not change them after; a
// TokenSource is safe for concurrent use, and concurrent callers share one
// request.
type TokenSource struct {
	// TokenURL is the remote token endpoint; it is also the assertion's aud.
	TokenURL string
	// ClientID is our client_id at the remote server (assertion iss and sub).
	ClientID string
	// Key signs assertions: RSA (RS384) or EC P-384 (ES384).
	Key crypto.Signer
	// KeyID is the kid of Key in the JWKS registered with the remote server.
	KeyID string
	// Scopes are requested on every token request, e.g. "system/Task.cruds".
	Scopes []string
	// HTTPClient sends the request; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Clock supplies the current time; nil means time.Now.
	Clock func() time.Time

	mu      sync.Mutex
	token   string
	refresh time.Time // fetch a new token at or after this instant
	granted string
}

// Token returns a valid access token, fetching a new one when none is cached
// or the cached one is close to expiry. A refusal by the server is returned
// as a *TokenError.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := ts.now()
	if ts.token != "" && now.Before(ts.refresh) {
		return ts.token, nil
	}
	ts.token, ts.granted = "", ""
	resp, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	ts.token, ts.granted = resp.AccessToken, resp.Scope
	ts.refresh = now.Add(refreshAfter(time.Duration(min(resp.ExpiresIn, maxCachedSeconds)) * time.Second))
	return ts.token, nil
}

// GrantedScope returns the scope string the server granted with the cached
// token, which may be narrower than what was requested; empty when no token
// is cached.
func (ts *TokenSource) GrantedScope() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.granted
}

// Invalidate drops the cached token, e.g. after the resource server answered
// 401, so the next Token call fetches a fresh one.
func (ts *TokenSource) Invalidate() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.token, ts.granted, ts.refresh = "", "", time.Time{}
}

// refreshAfter is how long a token with the given lifetime is reused: until
// 30 s before expiry, or half its life when it is short; never when the
// server gave no lifetime.
func refreshAfter(lifetime time.Duration) time.Duration {
	switch {
	case lifetime <= 0:
		return 0
	case lifetime <= time.Minute:
		return lifetime / 2
	}
	return lifetime - 30*time.Second
}

func (ts *TokenSource) now() time.Time {
	if ts.Clock != nil {
		return ts.Clock()
	}
	return time.Now()
}

// Assertion signs a fresh client assertion JWT for TokenURL. Token uses it;
// it is exported for callers that send the token request themselves.
func (ts *TokenSource) Assertion() (string, error) {
	if ts.TokenURL == "" || ts.ClientID == "" || ts.Key == nil || ts.KeyID == "" {
		return "", errors.New("smart: client assertion: TokenURL, ClientID, Key and KeyID are required")
	}
	method, err := methodForSigner(ts.Key, true)
	if err != nil {
		return "", fmt.Errorf("smart: client assertion: %w", err)
	}
	jti, err := randomID()
	if err != nil {
		return "", fmt.Errorf("smart: client assertion: %w", err)
	}
	now := ts.now()
	t := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": ts.ClientID,
		"sub": ts.ClientID,
		"aud": ts.TokenURL,
		"exp": now.Add(assertionLifetime).Unix(),
		"iat": now.Unix(),
		"jti": jti,
	})
	t.Header["typ"] = "JWT"
	t.Header["kid"] = ts.KeyID
	signed, err := t.SignedString(ts.Key)
	if err != nil {
		return "", fmt.Errorf("smart: client assertion: %w", err)
	}
	return signed, nil
}

func (ts *TokenSource) fetch(ctx context.Context) (tokenResponse, error) {
	assertion, err := ts.Assertion()
	if err != nil {
		return tokenResponse{}, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {ClientAssertionType},
		"client_assertion":      {assertion},
		"scope":                 {strings.Join(ts.Scopes, " ")},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("smart: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	client := ts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("smart: token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponseBytes))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("smart: token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		terr := &TokenError{Status: resp.StatusCode}
		if json.Unmarshal(body, terr) != nil || terr.Code == "" {
			terr.Code, terr.Description = "", "token endpoint answered without an OAuth error body"
		}
		terr.RetryAfter = retryafter.FromResponse(resp, ts.now())
		return tokenResponse{}, terr
	}
	return parseTokenResponse(body)
}

// parseTokenResponse reads a token endpoint success body.
func parseTokenResponse(body []byte) (tokenResponse, error) {
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return tokenResponse{}, fmt.Errorf("smart: token response: %w", err)
	}
	if tr.AccessToken == "" {
		return tokenResponse{}, errors.New("smart: token response: no access_token")
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return tokenResponse{}, fmt.Errorf("smart: token response: token_type %q is not bearer", truncate(tr.TokenType, 32))
	}
	if tr.ExpiresIn < 0 {
		return tokenResponse{}, errors.New("smart: token response: negative expires_in")
	}
	return tr, nil
}
