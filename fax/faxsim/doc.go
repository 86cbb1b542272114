// Package faxsim is an EMULATOR of the Phaxio API v2.1 cloud fax service,
// for tests and local development. No fax is ever transmitted.
//
// It speaks Phaxio's wire format over HTTP — POST /v2.1/faxes
// (multipart/form-data, HTTP basic auth) and GET /v2.1/faxes/{id} — stores
// what it receives so tests can read the documents back, and later posts a
// signed callback (multipart/form-data, X-Phaxio-Signature) to the callback
// URL of each fax, with an outcome chosen per destination number: success,
// busy, no answer, failure, busy on the first attempt then success, or the
// whole vendor unavailable (HTTP 503).
//
// Idempotency is our contract, not Phaxio's: Phaxio has no idempotency
// key, so the client marks each submission with the tag
// phaxio.IdempotencyTag, and the emulator answers a repeated submission
// carrying the same tag value with the first fax's id without creating a
// second fax or a second callback.
//
// Everything a user can see says it is an emulator: every response carries
// the header X-Fax-Emulator: true and messages start with "EMULATOR".
// It must not import the gateway core, fhir or direct, and it never logs
// document content.
package faxsim
