// Package phaxio is a client for the Phaxio cloud fax API, version 2.1.
//
// It owns the wire protocol only: submitting a fax (POST /v2.1/faxes as
// multipart/form-data with HTTP basic auth), reading a fax's status
// (GET /v2.1/faxes/{id}), verifying the HMAC-SHA1 X-Phaxio-Signature of the
// callbacks Phaxio posts when a fax finishes, and normalising US fax numbers
// to E.164. A 429 or 503 reply's Retry-After is read into
// APIError.RetryAfter (internal/retryafter) for the caller to wait on.
//
// It must not import the gateway core, fhir or direct: an adapter elsewhere
// turns its results into deliveries. It never logs, and no error it returns
// carries the API secret, the callback token or any file content.
package phaxio
