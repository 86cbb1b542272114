// Package outbound makes the HTTP clients the gateway calls other systems
// with (FHIR pushes and token requests, subscription notifications, CRL
// fetches, the fax vendor API). Every client has timeouts on each stage of
// a request and, unless built for development, refuses to connect to
// loopback, private, link-local and other non-public addresses, checked on
// the resolved address of each connection so that DNS cannot route around
// it (server-side request forgery). A request may be let through to a
// private address one at a time, when the directory entry it serves says
// so (AllowPrivate).
//
// It imports only the standard library, so fhir, direct and fax may each
// use it without importing one another.
package outbound
