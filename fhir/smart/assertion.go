package smart

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClientAssertionType is the client_assertion_type value for a JWT assertion
// (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime is how far in the future a client assertion's exp may
// lie, as SMART Backend Services requires.
const MaxAssertionLifetime = 5 * time.Minute

// assertionAlgs returns the only JWS algorithms accepted on client
// assertions, as SMART Backend Services requires.
func assertionAlgs() []string { return []string{"RS384", "ES384"} }

// maxIDLen bounds the client id echoed to the audit hook from an unverified
// assertion, so a hostile caller cannot flood the trail.
const maxIDLen = 128

// authFailed is what the caller is told when the failure would otherwise
// reveal whether a client id or key id is registered, or which of its keys
// failed; the audit hook still gets the precise reason.
const authFailed = "client authentication failed"

// refusal is a failed token request: what the client is told and what the
// audit hook records. reason is a fixed phrase, never token content.
type refusal struct {
	err      *TokenError
	reason   string
	clientID string
	orgID    string
}

func refuse(code, reason string) *refusal {
	return &refusal{err: newTokenError(code, reason), reason: code + ": " + reason}
}

// refuseQuietly refuses with invalid_client and the uninformative authFailed
// description, keeping reason for the audit hook.
func refuseQuietly(reason string) *refusal {
	return &refusal{err: newTokenError(CodeInvalidClient, authFailed), reason: CodeInvalidClient + ": " + reason}
}

// verifiedAssertion is what a valid client assertion establishes.
type verifiedAssertion struct {
	client Client
	jti    string
	exp    time.Time
}

// verifyAssertion authenticates the client from its assertion. formClientID
// is the optional client_id form parameter, which must then match.
func (s *TokenServer) verifyAssertion(ctx context.Context, assertion, formClientID string) (verifiedAssertion, *refusal) {
	var peek jwt.RegisteredClaims
	tok, _, err := jwt.NewParser().ParseUnverified(assertion, &peek)
	if err != nil || tok == nil {
		return verifiedAssertion{}, refuse(CodeInvalidClient, "client_assertion is not a well-formed JWS")
	}
	claimed := truncate(peek.Issuer, maxIDLen)
	fail := func(code, reason string) (verifiedAssertion, *refusal) {
		r := refuse(code, reason)
		r.clientID = claimed
		return verifiedAssertion{}, r
	}
	alg, _ := tok.Header["alg"].(string)
	if alg != "RS384" && alg != "ES384" {
		return fail(CodeInvalidClient, "client_assertion alg must be RS384 or ES384")
	}
	if typ, present := tok.Header["typ"]; present {
		if t, ok := typ.(string); !ok || !strings.EqualFold(t, "JWT") {
			return fail(CodeInvalidClient, "client_assertion typ must be JWT")
		}
	}
	// SMART Backend Services: a jku must be the JWKS URL the client
	// registered, or verification fails. Clients register a JWKS document
	// here, never a URL, so any jku fails (and is never fetched).
	if _, present := tok.Header["jku"]; present {
		return fail(CodeInvalidClient, "client_assertion jku is not a registered JWKS URL; keys come from the client's registered JWKS")
	}
	kid, _ := tok.Header["kid"].(string)
	if kid == "" {
		return fail(CodeInvalidClient, "client_assertion has no kid")
	}
	if peek.Issuer == "" || peek.Subject != peek.Issuer {
		return fail(CodeInvalidClient, "client_assertion iss and sub must both be the client_id")
	}
	if formClientID != "" && formClientID != peek.Issuer {
		return fail(CodeInvalidClient, "client_id does not match client_assertion iss")
	}

	// Until the signature is verified, the caller learns nothing about
	// whether the client or key exists or is enabled.
	client, err := s.cfg.Clients.Client(ctx, peek.Issuer)
	switch {
	case errors.Is(err, ErrUnknownClient):
		r := refuseQuietly("unknown client")
		r.clientID = claimed
		return verifiedAssertion{}, r
	case err != nil:
		return fail(CodeServerError, "client registry unavailable")
	}
	quiet := func(reason string) (verifiedAssertion, *refusal) {
		r := refuseQuietly(reason)
		r.clientID, r.orgID = client.ID, client.OrgID
		return verifiedAssertion{}, r
	}
	failClient := func(reason string) (verifiedAssertion, *refusal) {
		r := refuse(CodeInvalidClient, reason)
		r.clientID, r.orgID = client.ID, client.OrgID
		return verifiedAssertion{}, r
	}
	key, ok := client.JWKS.Lookup(kid)
	if !ok {
		return quiet("kid is not in the client's registered JWKS")
	}
	if !keyFitsAssertionAlg(key, alg) {
		return quiet("registered key for kid does not fit alg " + alg)
	}

	var claims jwt.RegisteredClaims
	_, err = jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(s.cfg.Clock),
		jwt.WithLeeway(s.cfg.ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithAudience(s.cfg.TokenURL),
		jwt.WithIssuer(client.ID),
		jwt.WithSubject(client.ID),
	).ParseWithClaims(assertion, &claims, func(*jwt.Token) (any, error) { return key.Key, nil })
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return quiet("client_assertion signature is invalid")
	}
	if err != nil {
		return failClient(assertionReason(err))
	}
	// Only the key holder gets this far, so it may learn it is disabled.
	if client.Disabled {
		return failClient("client is disabled")
	}
	if claims.ID == "" {
		return failClient("client_assertion has no jti")
	}
	now := s.cfg.Clock()
	exp := claims.ExpiresAt.Time
	if exp.After(now.Add(MaxAssertionLifetime + s.cfg.ClockSkew)) {
		return failClient("client_assertion exp is more than five minutes ahead")
	}
	// Remember the jti as long as the assertion could still be accepted,
	// which with a tolerated skew is past its exp.
	seen, err := s.cfg.Replay.Seen(ctx, client.ID, claims.ID, exp.Add(s.cfg.ClockSkew))
	if err != nil {
		r := refuse(CodeServerError, "replay cache unavailable")
		r.clientID, r.orgID = client.ID, client.OrgID
		return verifiedAssertion{}, r
	}
	if seen {
		return failClient("client_assertion jti was already used")
	}
	return verifiedAssertion{client: client, jti: claims.ID, exp: exp}, nil
}

// assertionReason names why the JWT library refused an assertion, in fixed
// words that never quote the token.
func assertionReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "client_assertion is expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "client_assertion lacks a required claim (exp, aud)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "client_assertion aud is not this token endpoint"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "client_assertion is not valid yet"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "client_assertion is not a well-formed JWS"
	}
	return "client_assertion claims are invalid"
}

// keyFitsAssertionAlg checks that the registered key can verify alg: RSA for
// RS384, P-384 for ES384, and that a key pinned to an algorithm is used only
// with it.
func keyFitsAssertionAlg(k PublicKeyWithKID, alg string) bool {
	if k.Alg != "" && k.Alg != alg {
		return false
	}
	var pub crypto.PublicKey = k.Key
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return p != nil && p.N != nil && alg == "RS384"
	case *ecdsa.PublicKey:
		return p != nil && alg == "ES384" && p.Curve == elliptic.P384()
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
