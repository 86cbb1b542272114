// Package gateway is the referral core: the referral and delivery state
// machines, the consent, Business Associate Agreement and minimum-necessary
// gates, routing across channels, durable dispatch and the recipient
// directory model.
//
// It defines the interfaces it needs from the outside (Store, Channel,
// Clock) and never imports a channel (fhir, direct, fax) or a database
// driver. Channels implement Channel; stores (gateway/pgstore,
// gateway/litestore) implement Store and pass the shared conformance suite
// in gateway/storetest.
//
// Domain refusals are typed errors (*TransitionError, *ConsentError,
// *BAAError, *MinimumNecessaryError, *RoutingError, *ValidationError,
// ErrNotFound, ErrConflict, ErrForbidden) that each edge maps once to its
// own protocol: FHIR to an OperationOutcome, SMTP to a reply code, the CLI
// to a message and exit status.
//
// Nothing here logs PHI: log lines carry ids and metadata only.
package gateway
