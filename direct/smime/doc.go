// Package smime owns the S/MIME layer of Direct messaging (RFC 5751 as
// profiled by the Direct Applicability Statement): wrapping a message in
// message/rfc822 (RFC 5751 section 3.1), signing a MIME entity into
// multipart/signed with a detached CMS signature, enveloping it for the
// recipients' certificates, and on the way in decrypting, verifying the
// signature over the exact received bytes, checking the signer's
// certificate (trust anchor, validity, key usage, CRL revocation and binding
// to the sender's address) and unwrapping.
//
// Every refusal is a typed error (ErrUnsigned, ErrBadSignature, ...) so the
// caller can audit and answer with the reason. The package does not parse or
// build RFC 5322 messages beyond the Content-Type of the entity it is given,
// does not talk SMTP, does not import the gateway core, and never logs
// message content or key material.
//
// CMS SignedData is produced and checked with github.com/smallstep/pkcs7 set
// to SHA-256. EnvelopedData (AES-CBC) and AuthEnvelopedData (AES-GCM) are
// built and opened here with encoding/asn1, because the fork selects its
// content cipher through package variables (a data race between concurrent
// callers), its CBC unpadding trusts the pad byte, and it cannot say which
// recipient a message names before it is given the key.
package smime
