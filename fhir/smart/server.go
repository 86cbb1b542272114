package smart

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/referralgw/gateway/internal/peer"
)

// TokenPath is where the token endpoint is served below the issuer base URL.
const TokenPath = "/auth/token"

// DefaultTokenLifetime is the access token lifetime SMART recommends.
const DefaultTokenLifetime = 5 * time.Minute

// maxTokenRequestBytes bounds a token request body.
const maxTokenRequestBytes = 64 << 10

// Decision is one token endpoint outcome, handed to the audit hook. It holds
// ids and metadata only, never tokens or assertions.
type Decision struct {
	// ClientID is the authenticated client, or on refusal the id the request
	// claimed (unverified, truncated); empty if none could be read.
	ClientID string
	// OrgID is the client's organization once the client was looked up.
	OrgID string
	// Granted reports whether an access token was issued.
	Granted bool
	// Reason is empty when granted, else the OAuth error code and a fixed
	// phrase, e.g. "invalid_client: client_assertion is expired". It can be
	// more precise than the error_description the caller was sent.
	Reason string
	// Scopes are the granted scopes, or on refusal the requested ones.
	Scopes []string
	// TokenID is the jti of the issued access token, for correlation.
	TokenID string
}

// TokenServerConfig configures a TokenServer. IssuerBase, Clients, Replay and
// Key are required; the rest have working defaults.
type TokenServerConfig struct {
	// IssuerBase is this server's base URL; issued tokens carry it as iss.
	IssuerBase string
	// TokenURL is the absolute token endpoint URL that client assertions
	// must name as aud; defaults to IssuerBase + TokenPath.
	TokenURL string
	// Audience is the aud of issued access tokens; defaults to IssuerBase.
	Audience string
	// Clients resolves client ids to registrations.
	Clients ClientRegistry
	// Replay remembers assertion ids so each assertion is used once.
	Replay ReplayCache
	// Key signs access tokens: RSA (RS256) or EC P-256 (ES256).
	Key crypto.Signer
	// KeyID is put in the access token header as kid when not empty.
	KeyID string
	// TokenLifetime is the access token lifetime; defaults to
	// DefaultTokenLifetime.
	TokenLifetime time.Duration
	// ClockSkew is the tolerance granted to client clocks on exp, nbf and
	// iat; zero means none.
	ClockSkew time.Duration
	// Clock supplies the current time; defaults to time.Now.
	Clock func() time.Time
	// OnDecision, when set, is called once per token request with its
	// outcome, synchronously before the response is written; a throttled
	// request is one too, refused without reading its body.
	OnDecision func(ctx context.Context, d Decision)
	// Peer names the client address a request counts against in the
	// throttle (see throttle.go); defaults to peer.Key of r.RemoteAddr,
	// which counts an IPv6 client by its /64.
	Peer func(r *http.Request) string
	// FailuresPerMinute and FailureBurst bound the failed token requests
	// of one client address (DefaultFailuresPerMinute and
	// DefaultFailureBurst when zero).
	FailuresPerMinute, FailureBurst int
	// NewPeerRequestsPerSecond and NewPeerBurst bound the token requests
	// of all addresses not granted a token within KnownPeerFor, together
	// (DefaultNewPeerRequestsPerSecond and DefaultNewPeerBurst when zero).
	NewPeerRequestsPerSecond, NewPeerBurst int
}

// TokenServer is the SMART Backend Services token endpoint, an http.Handler
// to mount at TokenPath. It accepts only POSTed forms with grant_type
// client_credentials and a jwt-bearer client_assertion that is RS384 or
// ES384, carries a kid from the client's JWKS and no jku, has iss = sub =
// client_id, aud = TokenURL, an exp in the future but at most five minutes
// ahead, an unused jti, and an optional typ of "JWT". The assertion is the
// request's only client authentication: an Authorization header or a
// client_secret beside it is invalid_request (RFC 6749 §2.3). Errors are
// answered 400 as RFC 6749 §5.2 has them, invalid_client included; 401
// (with a challenge) only to a client that tried the Authorization header.
// Failed requests and requests from new addresses are throttled (see
// throttle.go). It is safe for concurrent use.
type TokenServer struct {
	cfg      TokenServerConfig
	issuer   *issuer
	verifier *Verifier
	throttle *tokenThrottle
}

// NewTokenServer checks cfg, fills in defaults and returns the server.
func NewTokenServer(cfg TokenServerConfig) (*TokenServer, error) {
	if cfg.IssuerBase == "" {
		return nil, errors.New("smart: token server: IssuerBase is required")
	}
	if cfg.Clients == nil || cfg.Replay == nil || cfg.Key == nil {
		return nil, errors.New("smart: token server: Clients, Replay and Key are required")
	}
	base := strings.TrimRight(cfg.IssuerBase, "/")
	if u, err := url.Parse(base); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("smart: token server: IssuerBase %q is not an absolute URL", cfg.IssuerBase)
	}
	cfg.IssuerBase = base
	if cfg.TokenURL == "" {
		cfg.TokenURL = base + TokenPath
	}
	if cfg.Audience == "" {
		cfg.Audience = base
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ClockSkew < 0 {
		return nil, errors.New("smart: token server: ClockSkew must not be negative")
	}
	if cfg.Peer == nil {
		cfg.Peer = func(r *http.Request) string { return peer.Key(r.RemoteAddr) }
	}
	positive := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	positive(&cfg.FailuresPerMinute, DefaultFailuresPerMinute)
	positive(&cfg.FailureBurst, DefaultFailureBurst)
	positive(&cfg.NewPeerRequestsPerSecond, DefaultNewPeerRequestsPerSecond)
	positive(&cfg.NewPeerBurst, DefaultNewPeerBurst)
	iss, err := newIssuer(cfg)
	if err != nil {
		return nil, fmt.Errorf("smart: token server: %w", err)
	}
	ver, err := NewVerifier(VerifierConfig{
		Issuer:   cfg.IssuerBase,
		Audience: cfg.Audience,
		Key:      cfg.Key.Public(),
		Clock:    cfg.Clock,
		Clients:  cfg.Clients,
	})
	if err != nil {
		return nil, fmt.Errorf("smart: token server: %w", err)
	}
	return &TokenServer{cfg: cfg, issuer: iss, verifier: ver, throttle: newTokenThrottle(cfg)}, nil
}

// TokenURL returns the token endpoint URL that assertions must name as aud.
func (s *TokenServer) TokenURL() string { return s.cfg.TokenURL }

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// tokenRequest holds the form parameters of a client_credentials request.
type tokenRequest struct {
	grantType     string
	assertionType string
	assertion     string
	scope         string
	clientID      string
}

// ServeHTTP handles one token request: the throttle first, then the
// exchange, whose outcome the throttle learns.
func (s *TokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	peer := s.cfg.Peer(r)
	if wait, why := s.throttle.admit(peer, s.cfg.Clock()); wait > 0 {
		s.decide(r.Context(), Decision{Reason: CodeInvalidClient + ": " + why})
		writeThrottled(w, wait, why)
		return
	}
	switch status := s.exchange(w, r); {
	case status == http.StatusOK:
		s.throttle.granted(peer, s.cfg.Clock())
	case status < http.StatusInternalServerError: // a failure of the server is not the client's
		s.throttle.failed(peer, s.cfg.Clock())
	}
}

// exchange answers one token request and returns the status it answered.
func (s *TokenServer) exchange(w http.ResponseWriter, r *http.Request) int {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, newTokenError(CodeInvalidRequest, "token requests must use POST"))
		return http.StatusMethodNotAllowed
	}
	req, terr := parseTokenRequest(w, r)
	if terr != nil {
		s.decide(ctx, Decision{Reason: terr.Code + ": " + terr.Description})
		return writeTokenError(w, terr)
	}
	requested := auditScopes(req.scope)
	v, ref := s.verifyAssertion(ctx, req.assertion, req.clientID)
	if ref != nil {
		s.decide(ctx, Decision{
			ClientID: ref.clientID, OrgID: ref.orgID, Scopes: requested,
			Reason: ref.reason,
		})
		return writeTokenError(w, ref.err)
	}
	granted := grantScopes(req.scope, v.client.Scopes)
	if len(granted) == 0 {
		terr := newTokenError(CodeInvalidScope, "none of the requested scopes is allowed for this client")
		s.decide(ctx, Decision{
			ClientID: v.client.ID, OrgID: v.client.OrgID, Scopes: requested,
			Reason: terr.Code + ": " + terr.Description,
		})
		return writeTokenError(w, terr)
	}
	tok, err := s.issuer.issue(v.client, granted)
	if err != nil {
		terr := newTokenError(CodeServerError, "could not sign the access token")
		s.decide(ctx, Decision{
			ClientID: v.client.ID, OrgID: v.client.OrgID, Scopes: requested,
			Reason: terr.Code + ": " + terr.Description,
		})
		return writeTokenError(w, terr)
	}
	scope := FormatScopes(granted)
	s.decide(ctx, Decision{
		ClientID: v.client.ID, OrgID: v.client.OrgID, Granted: true,
		Scopes: strings.Fields(scope), TokenID: tok.id,
	})
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tok.token,
		TokenType:   "bearer",
		ExpiresIn:   int64(s.cfg.TokenLifetime / time.Second),
		Scope:       scope,
	})
	return http.StatusOK
}

// auditScopes lists requested scopes for the audit hook, bounded so that a
// hostile request cannot flood the trail: at most 32 entries of 100 bytes.
func auditScopes(param string) []string {
	fields := strings.Fields(param)
	if len(fields) > 32 {
		fields = fields[:32]
	}
	for i, f := range fields {
		fields[i] = truncate(f, 100)
	}
	return fields
}

func (s *TokenServer) decide(ctx context.Context, d Decision) {
	if s.cfg.OnDecision != nil {
		s.cfg.OnDecision(ctx, d)
	}
}

// parseTokenRequest reads and checks the form body. Parameters in the URL
// query are ignored; a repeated parameter is refused (RFC 6749 §3.2).
func parseTokenRequest(w http.ResponseWriter, r *http.Request) (tokenRequest, *TokenError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return tokenRequest{}, newTokenError(CodeInvalidRequest, "body must be application/x-www-form-urlencoded")
	}
	// RFC 6749 §2.3.1, §3.2: the parameters travel in the body, never in
	// the request URI, where proxies and access logs would keep a
	// credential. A query is not parsed into the form; one that names a
	// token parameter is refused rather than ignored.
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return tokenRequest{}, newTokenError(CodeInvalidRequest, "the request URI's query cannot be parsed")
	}
	for _, name := range tokenParams {
		if query.Has(name) {
			return tokenRequest{}, newTokenError(CodeInvalidRequest, name+" belongs in the request body, not the URI")
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		return tokenRequest{}, newTokenError(CodeInvalidRequest, "form body cannot be parsed")
	}
	return tokenRequestFromForm(r.PostForm, r.Header.Values("Authorization"))
}

// tokenParams are the token request's parameters (RFC 6749, RFC 7521).
var tokenParams = []string{"grant_type", "scope", "client_id", "client_secret", "client_assertion_type", "client_assertion"}

// tokenRequestFromForm validates the parameters of a parsed form, with the
// request's Authorization header fields (none when it has no such header).
func tokenRequestFromForm(form url.Values, authorization []string) (tokenRequest, *TokenError) {
	for name, vals := range form {
		if len(vals) > 1 {
			return tokenRequest{}, newTokenError(CodeInvalidRequest, "parameter "+truncate(name, 40)+" is repeated")
		}
	}
	req := tokenRequest{
		grantType:     form.Get("grant_type"),
		assertionType: form.Get("client_assertion_type"),
		assertion:     form.Get("client_assertion"),
		scope:         form.Get("scope"),
		clientID:      form.Get("client_id"),
	}
	// RFC 6749 §2.3: a client MUST NOT use more than one authentication
	// method in a request. Which one to believe is not the server's guess.
	var methods []string
	if len(authorization) > 0 {
		methods = append(methods, "the Authorization header")
	}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		methods = append(methods, "client_assertion")
	}
	if form.Has("client_secret") {
		methods = append(methods, "client_secret")
	}
	if len(methods) > 1 {
		return tokenRequest{}, newTokenError(CodeInvalidRequest, "more than one client authentication method ("+
			strings.Join(methods, ", ")+"): use client_assertion alone")
	}
	switch {
	case req.grantType == "":
		return tokenRequest{}, newTokenError(CodeInvalidRequest, "grant_type is required")
	case req.grantType != "client_credentials":
		return tokenRequest{}, newTokenError(CodeUnsupportedGrantType, "only client_credentials is supported")
	case len(authorization) > 0:
		return tokenRequest{}, headerAuthRefused(authorization[0])
	case form.Has("client_secret"):
		return tokenRequest{}, newTokenError(CodeInvalidClient, "only private_key_jwt client authentication is supported")
	case req.assertionType == "" || req.assertion == "":
		return tokenRequest{}, newTokenError(CodeInvalidClient, "client_assertion_type and client_assertion are required")
	case req.assertionType != ClientAssertionType:
		return tokenRequest{}, newTokenError(CodeInvalidClient, "client_assertion_type must be "+ClientAssertionType)
	case strings.TrimSpace(req.scope) == "":
		return tokenRequest{}, newTokenError(CodeInvalidRequest, "scope is required")
	}
	return req, nil
}
