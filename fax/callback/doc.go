// Package callback receives the fax vendor's delivery callbacks (POST
// /fax/callback): it checks the vendor's signature, refuses replays, finds
// the delivery the fax belongs to and hands the outcome to the core as a
// receipt (gateway.Service.RecordReceipt), which then delivers the referral,
// retries the fax line or falls back to another channel.
//
// Every callback, accepted or refused, is audited: in the trails of the
// referral's practices when the fax is ours, in the gateway's own trail
// otherwise. A callback applied is an entry of its own; anything anyone can
// repeat without end (unsigned or forged callbacks, replays, progress,
// refusals of a signed callback) goes to the aggregated edge record, which
// writes the first of each kind per window and counts the rest. Replies
// never explain a refusal beyond its status code.
//
// It must not import fhir or direct, must not send anything, and never logs
// or audits callback content beyond ids, status words, page counts and
// vendor error codes.
package callback
