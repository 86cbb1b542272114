// Package api is the gateway's FHIR R4 REST API for on-platform EHRs: an
// http.Handler for /fhir that speaks application/fhir+json.
//
// A referral is exposed as a Task (the workflow; its status is the
// referral's lifecycle state) focused on a ServiceRequest (the order).
// Clients create referrals with a transaction Bundle, a Task carrying its
// resources contained, or in two steps: POST a ServiceRequest (a draft of
// the caller's organisation), then POST a Task whose focus is
// ServiceRequest/{id}, status requested to submit it (conditional create
// on the identifier makes a retried POST safe), read and search Tasks with keyset paging, read
// history, and move a referral through its lifecycle with PUT or JSON
// Patch on Task.status under If-Match. EHRs subscribe to changes of their
// own Tasks with R4 rest-hook Subscriptions (/fhir/Subscription, stored and
// delivered by fhir/subscription); a client sees only its organisation's
// subscriptions, and channel.header values are never read back.
//
// Every request except GET /fhir/metadata needs a SMART Backend Services
// bearer token (see fhir/smart); the granted scopes are enforced per
// interaction, and a client sees only referrals its organisation requested
// or receives: anything else is reported as not found, never as forbidden,
// so ids of other tenants do not leak. Every request and every refused
// authorization is written to the audit trail with ids and metadata only.
//
// The package owns HTTP and the mapping of gateway errors to
// OperationOutcome (outcome.go, in one place). It must not reach into the
// store except through gateway.Service, and
// it must not import the direct or fax channels. It never logs PHI or
// resource content.
package api
