package smart

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// OAuth 2.0 token endpoint error codes (RFC 6749 §5.2).
const (
	// CodeInvalidRequest: a parameter is missing, repeated or malformed.
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidClient: client authentication failed (unknown or disabled
	// client, or a bad assertion: RFC 7523 §3.2 uses this code for it). It
	// is answered 400, as RFC 6749 §5.2 has every error by default; 401
	// only when the client tried the Authorization header (see
	// headerAuthRefused), because a 401 must carry a challenge and
	// private_key_jwt has no HTTP authentication scheme to name.
	CodeInvalidClient = "invalid_client"
	// CodeInvalidGrant: the grant is invalid; the client_credentials grant
	// carries none, so the token server does not emit it itself.
	CodeInvalidGrant = "invalid_grant"
	// CodeInvalidScope: no requested scope can be granted to this client.
	CodeInvalidScope = "invalid_scope"
	// CodeUnsupportedGrantType: grant_type is not client_credentials.
	CodeUnsupportedGrantType = "unsupported_grant_type"
	// CodeServerError is not in §5.2; it marks a failure of the server
	// itself (registry or replay store down) with HTTP 500.
	CodeServerError = "server_error"
)

// TokenError is an OAuth 2.0 error response from a token endpoint, both as
// the server writes it and as TokenSource reads it.
type TokenError struct {
	// Status is the HTTP status code (400, 401, 405, 429 or 500).
	Status int `json:"-"`
	// Code is the OAuth "error" value, one of the Code constants.
	Code string `json:"error"`
	// Description is the human-readable "error_description"; it never
	// echoes tokens or key material.
	Description string `json:"error_description,omitempty"`
	// RetryAfter is, as TokenSource reads a 429 or 503, the wait its
	// Retry-After field asks for (see retryafter.FromResponse); zero
	// otherwise. The server side sets the field itself.
	RetryAfter time.Duration `json:"-"`
	// challenge is, on the server side, the WWW-Authenticate value a 401
	// carries.
	challenge string
}

// Error implements error.
func (e *TokenError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("smart: token endpoint: %s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("smart: token endpoint: %s: %s (HTTP %d)", e.Code, e.Description, e.Status)
}

func newTokenError(code, description string) *TokenError {
	status := http.StatusBadRequest
	if code == CodeServerError {
		status = http.StatusInternalServerError
	}
	return &TokenError{Status: status, Code: code, Description: description}
}

// headerAuthRefused is the answer to a client that tried to authenticate
// with the Authorization header, which this server does not accept: RFC
// 6749 §5.2 requires invalid_client with 401 and a WWW-Authenticate
// challenge of the scheme the client used.
func headerAuthRefused(authorization string) *TokenError {
	e := newTokenError(CodeInvalidClient, "the Authorization header is not a client authentication method here; "+
		"authenticate with client_assertion (private_key_jwt) in the form body alone")
	e.Status = http.StatusUnauthorized
	e.challenge = authScheme(authorization) + ` realm="token", error="invalid_client"`
	return e
}

// authScheme is the scheme of an Authorization header value, or Basic
// when it names none that is a valid token (RFC 9110 §11.1).
func authScheme(authorization string) string {
	scheme, _, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	if scheme == "" || len(scheme) > 32 {
		return "Basic"
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return "Basic"
		}
	}
	return scheme
}

// writeJSON writes v as an uncacheable JSON response, as RFC 6749 §5.1
// requires of token responses.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(body)
}

// writeTokenError writes e and returns its status.
func writeTokenError(w http.ResponseWriter, e *TokenError) int {
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	writeJSON(w, e.Status, e)
	return e.Status
}
