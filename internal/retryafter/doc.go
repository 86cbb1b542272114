// Package retryafter reads the HTTP Retry-After field (RFC 9110 §10.2.3)
// that a server sends with a 429 (Too Many Requests) or a 503 (Service
// Unavailable) to say how long a client should wait before it asks again.
//
// It owns the field's two forms, delay-seconds and HTTP-date, and the
// gateway's ceiling on what it will honour (Max). It is protocol code: it
// imports only the standard library, so the standalone protocol clients
// (fhir/smart, fax/phaxio) and the channels may all use it. What to do with
// the delay (schedule the next attempt no sooner) is the caller's business:
// the channels hand it to the core as a gateway.RetryAfterError.
package retryafter
