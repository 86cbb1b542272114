package smime

import "errors"

// Refusal classes. Every error returned by Verify and Decrypt wraps exactly
// one of these, so callers can map it to an audit reason with errors.Is.
var (
	// ErrUnsigned: the entity carries no S/MIME signature.
	ErrUnsigned = errors.New("smime: message is not signed")
	// ErrMalformed: the MIME structure or the CMS encoding cannot be parsed.
	ErrMalformed = errors.New("smime: malformed message")
	// ErrBadSignature: the signature does not match the content (tampering),
	// or it uses an algorithm Direct does not allow.
	ErrBadSignature = errors.New("smime: bad signature")
	// ErrUntrustedAnchor: the signer certificate does not chain to a trust anchor.
	ErrUntrustedAnchor = errors.New("smime: signer not trusted")
	// ErrCertExpired: the signer certificate is not valid at the verification time.
	ErrCertExpired = errors.New("smime: signer certificate expired or not yet valid")
	// ErrKeyUsage: the signer certificate does not allow digitalSignature.
	ErrKeyUsage = errors.New("smime: signer certificate key usage does not allow signing")
	// ErrCertRevoked: a certificate of the signer's chain is listed on its issuer's CRL.
	ErrCertRevoked = errors.New("smime: certificate revoked")
	// ErrRevocationUnknown: no valid CRL could be obtained for a certificate
	// that names a distribution point.
	ErrRevocationUnknown = errors.New("smime: revocation status unknown")
	// ErrAddressMismatch: the signer certificate is bound neither to the
	// sender address nor to its domain.
	ErrAddressMismatch = errors.New("smime: certificate not bound to sender address")
	// ErrNotEncrypted: the message is not an S/MIME enveloped-data entity.
	ErrNotEncrypted = errors.New("smime: message is not encrypted")
	// ErrNoKey: none of the message's recipients is a key we hold.
	ErrNoKey = errors.New("smime: no key for any recipient")
	// ErrDecrypt: we hold the recipient key but the content does not decrypt.
	ErrDecrypt = errors.New("smime: decryption failed")
	// ErrWeakKey: a key of the signer's chain, or of a recipient, is under
	// 2048-bit RSA or P-256 EC (it wraps certs.ErrWeakKey too).
	ErrWeakKey = errors.New("smime: key too weak")
	// ErrUnsupportedAlgorithm: the message uses an algorithm this package does not offer.
	ErrUnsupportedAlgorithm = errors.New("smime: unsupported algorithm")
)
