package smart

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// accessTokenType is the JWT typ of issued access tokens (RFC 9068), which
// keeps them from being confused with client assertions or ID tokens.
const accessTokenType = "at+jwt"

// accessClaims is the payload of an issued access token.
type accessClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	OrgID    string `json:"org_id"`
	Scope    string `json:"scope"`
}

// issuer signs access tokens with the server's key.
type issuer struct {
	cfg    TokenServerConfig
	method *signerMethod
}

type issuedToken struct {
	token string
	id    string
}

func newIssuer(cfg TokenServerConfig) (*issuer, error) {
	m, err := methodForSigner(cfg.Key, false)
	if err != nil {
		return nil, err
	}
	return &issuer{cfg: cfg, method: m}, nil
}

func (i *issuer) issue(c Client, scopes []Scope) (issuedToken, error) {
	id, err := randomID()
	if err != nil {
		return issuedToken{}, err
	}
	now := i.cfg.Clock()
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.cfg.IssuerBase,
			Subject:   c.ID,
			Audience:  jwt.ClaimStrings{i.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(i.cfg.TokenLifetime)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        id,
		},
		ClientID: c.ID,
		OrgID:    c.OrgID,
		Scope:    FormatScopes(scopes),
	}
	t := jwt.NewWithClaims(i.method, claims)
	t.Header["typ"] = accessTokenType
	if i.cfg.KeyID != "" {
		t.Header["kid"] = i.cfg.KeyID
	}
	signed, err := t.SignedString(i.cfg.Key)
	if err != nil {
		return issuedToken{}, fmt.Errorf("smart: issue access token: %w", err)
	}
	return issuedToken{token: signed, id: id}, nil
}

// randomID returns 128 random bits in hex, for jti values.
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("smart: random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Principal is the authenticated caller behind a valid access token.
type Principal struct {
	// ClientID is the registered client the token was issued to.
	ClientID string
	// OrgID is the organization the client acts for.
	OrgID string
	// Scopes are the scopes granted to the token.
	Scopes []Scope
	// TokenID is the token's jti, for audit correlation.
	TokenID string
	// Expires is when the token stops being accepted.
	Expires time.Time
}

// Allows reports whether any granted scope permits op on resourceType.
func (p Principal) Allows(resourceType string, op Op) bool {
	for _, s := range p.Scopes {
		if s.Allows(resourceType, op) {
			return true
		}
	}
	return false
}

// ErrNoBearerToken reports a request without an "Authorization: Bearer" token.
var ErrNoBearerToken = errors.New("smart: no bearer token")

// ErrInvalidToken reports a bearer token that is malformed, badly signed,
// expired, or issued by or for someone else.
var ErrInvalidToken = errors.New("smart: invalid access token")

// VerifierConfig configures a Verifier; Issuer and Key are required.
type VerifierConfig struct {
	// Issuer is the expected iss, the token server's IssuerBase.
	Issuer string
	// Audience is the expected aud; defaults to Issuer.
	Audience string
	// Key is the token server's public key (RSA or EC P-256).
	Key crypto.PublicKey
	// Clock supplies the current time; defaults to time.Now.
	Clock func() time.Time
	// Clients, when set, is asked on every Verify whether the token's
	// client is still registered, enabled and of the same organisation,
	// and which of the token's scopes it is still allowed, so that
	// disabling a client (or removing it, or narrowing its scopes) ends
	// its tokens (or their scopes) at once rather than when they expire.
	Clients ClientRegistry
}

// Verifier checks access tokens issued by a TokenServer. It is safe for
// concurrent use.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for tokens signed by cfg.Key.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Key == nil {
		return nil, errors.New("smart: verifier: Issuer and Key are required")
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	alg, err := algForKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("smart: verifier: %w", err)
	}
	if alg == "RS384" { // RSA access tokens are RS256
		alg = "RS256"
	}
	if alg != "RS256" && alg != "ES256" {
		return nil, fmt.Errorf("smart: verifier: access token key must be RSA or EC P-256, not %s", alg)
	}
	return &Verifier{
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithStrictDecoding(),
			jwt.WithTimeFunc(cfg.Clock),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
		),
	}, nil
}

// Verifier returns a Verifier for the tokens this server issues.
func (s *TokenServer) Verifier() *Verifier { return s.verifier }

// Verify checks a raw access token and returns its Principal. Every failure
// of the token wraps ErrInvalidToken; a failure to look up its client (see
// VerifierConfig.Clients) does not.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	var claims accessClaims
	t, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.cfg.Key, nil })
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, accessTokenType) {
		return Principal{}, fmt.Errorf("%w: typ is not %s", ErrInvalidToken, accessTokenType)
	}
	if claims.ClientID == "" || claims.ClientID != claims.Subject || claims.ID == "" {
		return Principal{}, fmt.Errorf("%w: missing client_id, sub or jti", ErrInvalidToken)
	}
	scopes, err := ParseScopes(claims.Scope)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: scope claim: %w", ErrInvalidToken, err)
	}
	if len(scopes) == 0 {
		return Principal{}, fmt.Errorf("%w: no scopes", ErrInvalidToken)
	}
	if v.cfg.Clients != nil {
		c, err := v.cfg.Clients.Client(ctx, claims.ClientID)
		switch {
		case errors.Is(err, ErrUnknownClient):
			return Principal{}, fmt.Errorf("%w: client is no longer registered", ErrInvalidToken)
		case err != nil:
			// Not the token's fault: the caller answers "try again", not 401.
			return Principal{}, fmt.Errorf("smart: verify: look up client: %w", err)
		case c.Disabled:
			return Principal{}, fmt.Errorf("%w: client is disabled", ErrInvalidToken)
		case c.OrgID != claims.OrgID:
			return Principal{}, fmt.Errorf("%w: client acts for another organisation now", ErrInvalidToken)
		}
		// What the registration no longer allows ends now too, not when
		// the token expires: the token grants what both still allow.
		if scopes = grantScopes(claims.Scope, c.Scopes); len(scopes) == 0 {
			return Principal{}, fmt.Errorf("%w: the client is no longer allowed any of the token's scopes", ErrInvalidToken)
		}
	}
	return Principal{
		ClientID: claims.ClientID,
		OrgID:    claims.OrgID,
		Scopes:   scopes,
		TokenID:  claims.ID,
		Expires:  claims.ExpiresAt.Time,
	}, nil
}

// Authenticate verifies the request's "Authorization: Bearer" token. It
// returns ErrNoBearerToken when there is none, so the caller can answer 401
// with a plain challenge, and an error wrapping ErrInvalidToken otherwise.
func (v *Verifier) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, ErrNoBearerToken
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return Principal{}, ErrNoBearerToken
	}
	return v.Verify(r.Context(), token)
}
