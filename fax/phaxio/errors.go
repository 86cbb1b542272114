package phaxio

import (
	"errors"
	"fmt"
	"time"
)

// ErrMissingSignature is returned by VerifyCallback when the request has no
// X-Phaxio-Signature header.
var ErrMissingSignature = errors.New("phaxio: callback has no X-Phaxio-Signature header")

// ErrBadSignature is returned by VerifyCallback when the signature does not
// match the one computed from the request and the callback token.
var ErrBadSignature = errors.New("phaxio: callback signature does not match")

// APIError is a reply from the Phaxio API that was not a success: a non-2xx
// status, or a 2xx whose JSON said "success": false.
type APIError struct {
	Op         string // the client operation, e.g. "send" or "status"
	StatusCode int    // the HTTP status code
	Message    string // Phaxio's "message" field, or the status text
	// RetryAfter is the wait a 429 or 503 reply asked for with its
	// Retry-After field, capped at retryafter.Max; zero when it named
	// none or a value that is not a delay.
	RetryAfter time.Duration
}

// Error reports the operation, the HTTP status and Phaxio's message.
func (e *APIError) Error() string {
	return fmt.Sprintf("phaxio: %s: HTTP %d: %s", e.Op, e.StatusCode, e.Message)
}

// Temporary reports whether retrying later may succeed: server errors (5xx)
// and rate limiting (429) are temporary, other client errors are not.
func (e *APIError) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == 429
}

// TransportError is a failure to reach Phaxio or to read its reply (network
// error, timeout, truncated or unparseable body); it is always temporary.
type TransportError struct {
	Op  string // the client operation, e.g. "send" or "status"
	Err error  // the network, timeout or decoding failure
}

// Error reports the operation and the underlying cause.
func (e *TransportError) Error() string { return fmt.Sprintf("phaxio: %s: %v", e.Op, e.Err) }

// Unwrap returns the underlying cause.
func (e *TransportError) Unwrap() error { return e.Err }

// Temporary is always true: the request may not have reached Phaxio.
func (e *TransportError) Temporary() bool { return true }

// IsTemporary reports whether err is worth retrying later: a network error,
// a timeout, or a 5xx/429 reply. A 4xx reply (bad number, bad file, bad
// credentials) is permanent.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return false
}
