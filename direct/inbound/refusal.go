package inbound

import (
	"errors"
	"fmt"

	"github.com/referralgw/gateway/direct/smime"
)

// Reason classifies why an inbound message was refused; it is what the
// audit trail and the quarantine metadata record.
type Reason string

// Refusal reasons. The S/MIME ones map one to one onto direct/smime's
// refusal classes.
const (
	ReasonNotEncrypted      Reason = "not-encrypted"
	ReasonWrongRecipient    Reason = "wrong-recipient"
	ReasonUndecryptable     Reason = "undecryptable"
	ReasonMalformed         Reason = "malformed"
	ReasonUnsupported       Reason = "unsupported-algorithm"
	ReasonUnsigned          Reason = "unsigned"
	ReasonBadSignature      Reason = "bad-signature"
	ReasonUntrustedAnchor   Reason = "untrusted-anchor"
	ReasonCertExpired       Reason = "cert-expired"
	ReasonCertRevoked       Reason = "cert-revoked"
	ReasonRevocationUnknown Reason = "revocation-unknown"
	ReasonKeyUsage          Reason = "key-usage"
	ReasonAddressMismatch   Reason = "address-mismatch"
	ReasonWeakKey           Reason = "weak-key"
	// ReasonNotReceiver: a verified reply or receipt about one of our
	// referrals came from an address that is not the referral's receiver.
	ReasonNotReceiver Reason = "sender-not-receiver"
	// ReasonRoutingMismatch: the SMTP envelope does not match the signed
	// header (Applicability Statement v1.3): MAIL FROM is not the From or
	// Sender, or a RCPT TO is not among To and Cc.
	ReasonRoutingMismatch Reason = "routing-mismatch"
	// ReasonUnverifiedReport: a report (MDN or DSN) that came without
	// S/MIME and is not a failure DSN tied to one of our deliveries (see
	// Processor.plainFailure): it changes nothing.
	ReasonUnverifiedReport Reason = "unverified-report"
	// ReasonRecipientNotSent: a verified report (MDN or DSN) about one of
	// our deliveries names none of the addresses that delivery went to:
	// what it says about other recipients changes nothing.
	ReasonRecipientNotSent Reason = "recipient-not-sent"
	// ReasonProcessingFailed: processing failed Config.MaxAttempts passes
	// in a row for a reason that is not the message's fault.
	ReasonProcessingFailed Reason = "processing-failed"
)

// Refusal is a message the processor will not apply.
type Refusal struct {
	Reason Reason
	Err    error
}

// Error implements error.
func (r *Refusal) Error() string {
	return fmt.Sprintf("direct inbound: refused (%s): %v", r.Reason, r.Err)
}

// Unwrap returns the underlying error.
func (r *Refusal) Unwrap() error { return r.Err }

// classify maps an error of smime.Decrypt or smime.Verify to its reason.
func classify(err error) Reason {
	for _, m := range []struct {
		err    error
		reason Reason
	}{
		{smime.ErrNotEncrypted, ReasonNotEncrypted},
		{smime.ErrNoKey, ReasonWrongRecipient},
		{smime.ErrDecrypt, ReasonUndecryptable},
		{smime.ErrUnsupportedAlgorithm, ReasonUnsupported},
		{smime.ErrUnsigned, ReasonUnsigned},
		{smime.ErrBadSignature, ReasonBadSignature},
		{smime.ErrUntrustedAnchor, ReasonUntrustedAnchor},
		{smime.ErrCertExpired, ReasonCertExpired},
		{smime.ErrCertRevoked, ReasonCertRevoked},
		{smime.ErrRevocationUnknown, ReasonRevocationUnknown},
		{smime.ErrKeyUsage, ReasonKeyUsage},
		{smime.ErrAddressMismatch, ReasonAddressMismatch},
		{smime.ErrWeakKey, ReasonWeakKey},
		{smime.ErrMalformed, ReasonMalformed},
	} {
		if errors.Is(err, m.err) {
			return m.reason
		}
	}
	return ReasonMalformed
}
