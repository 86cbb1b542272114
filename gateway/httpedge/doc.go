// Package httpedge is what stands between the network and the gateway's
// HTTP handlers: server timeouts (headers, the whole request body, writes,
// idle keep-alives), caps on concurrent connections in all and per client
// address and on in-flight requests per client address, answered 503 or
// 429 with Retry-After; security headers on every response (and HSTS over
// TLS); and a TLS certificate that is reloaded when its files change or on
// SIGHUP, with TLS 1.2 as the floor.
//
// It knows nothing of referrals or channels and imports only the standard
// library, so any HTTP face of the gateway can use it.
package httpedge
