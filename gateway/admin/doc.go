// Package admin is the gateway's administration face: a JSON API under
// /admin/v1/ and a server-rendered web console under /admin/ through which
// admins keep the recipient directory and Business Associate Agreements
// current, watch referrals move through their deliveries, check the audit
// chain and see the directory's health. Admins also register, disable and
// enable the FHIR API's SMART Backend Services clients, through the small
// ClientRegistry interface that cmd/gateway implements over the FHIR side's
// store (this package cannot import it).
//
// It owns the administrators themselves: accounts with an argon2id password
// hash and a TOTP second factor (RFC 6238), passwords checked for strength,
// sign-in attempts slowed with growing delays per client address (never a
// lockout a stranger could trigger), sessions limited by idle time and by
// age in an HttpOnly SameSite=Strict cookie (Secure over TLS) and a CSRF
// token on every state-changing request. An account belongs to one practice
// or is gateway-wide, and each request acts for the account's practice in
// the store (docs/tenancy.md). These records are kept through the core's
// typed methods (Service.ConsoleAccount, ConsoleSession and their kin);
// every login, failure, refusal
// and change is appended to the audit trail, in the practice's own trail
// for a practice's account.
//
// It must not reach past the core: it imports gateway and audit, never a
// channel (fhir, direct, fax) or a database driver, and every change goes
// through gateway.Service so that the core's rules and audit apply. It never
// shows or logs patient identity, clinical reasons or message content: the
// console and the API carry ids, states and metadata only.
package admin
