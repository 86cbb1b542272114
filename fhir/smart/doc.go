// Package smart implements SMART on FHIR Backend Services authorization for
// the gateway, in both directions.
//
// As an authorization server it owns the token endpoint (POST /auth/token):
// it authenticates a registered system client by its signed JWT assertion
// (OAuth 2.0 client_credentials with private_key_jwt, RFC 7523), checks the
// assertion's algorithm, key id, issuer, subject, audience, lifetime and
// replay, grants the intersection of the requested and allowed system scopes,
// and issues a short-lived access token signed by the gateway's own key. It
// throttles failed requests per client address and the requests of
// addresses never granted a token all together, answering 429 before any
// verification. A
// [Verifier] turns a presented bearer token back into a [Principal] whose
// [Principal.Allows] answers "may this client do op on this resource type".
// It also serves the /.well-known/smart-configuration discovery document.
//
// As a client it owns [TokenSource], which obtains and caches access tokens
// from another EHR's token endpoint by signing its own assertions.
//
// The package is protocol code only: it must not import the gateway core or
// any channel package (gateway, direct, fax). Persistence of clients and of
// seen assertion ids lives elsewhere behind the small [ClientRegistry] and
// [ReplayCache] interfaces. It never logs or reports tokens, assertions or
// key material; audit callbacks receive ids and metadata only.
package smart
