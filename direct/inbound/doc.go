// Package inbound processes the Direct mail that direct/smtpin accepted.
// Its Receiver is the listener's spool: the raw message (still encrypted)
// and its processing job commit in one database transaction before the
// listener answers 250, and a copy of a message already received is
// answered but stored and applied once.
//
// The core runs the Processor as River jobs. It decrypts each message with
// our keys, verifies its signature, certificate chain and address binding
// against our trust anchors, and works out what it means — an MDN or DSN
// becomes a delivery receipt, a reply to one of our referrals accepts or
// declines it and attaches its documents, anything else is new mail in the
// receiving practice's inbox — which the core then commits in one
// transaction with the audit entries and the MDNs to send (themselves
// jobs). Refused messages stay stored in the quarantined state with their
// typed reason, never dropped.
//
// It must not import fhir or fax and never logs message content: log lines
// and audit details carry message ids, party addresses, reason codes and
// counts only.
package inbound
