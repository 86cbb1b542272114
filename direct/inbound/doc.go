// Package inbound processes the Direct mail that direct/smtpin spooled: it
// decrypts each message with our keys, verifies its signature, certificate
// chain and address binding against our trust anchors, and then applies it
// to the referral core — an MDN or DSN becomes a delivery receipt, a reply
// to one of our referrals accepts or declines it, anything else lands in an
// admin-visible inbox. Verified messages are answered with signed and
// encrypted MDNs; refused ones are moved to a quarantine folder and audited
// with their typed reason, never dropped.
//
// Each spooled message is processed once: it leaves the spool only after its
// effects are committed (a done marker makes a rerun after a crash a no-op),
// and every effect tolerates being applied again.
//
// It must not import fhir or fax and never logs message content: log lines
// and audit details carry spool ids, message ids, party addresses, reason
// codes and counts only. Inbox and quarantine keep the message as received
// (still encrypted for our key) beside its envelope metadata.
package inbound
