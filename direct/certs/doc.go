// Package certs owns the X.509 material of Direct messaging: a development
// certificate authority that issues address-bound and domain-bound
// certificates and CRLs, PEM and PKCS#12 loading, the Keyring of our own
// signing and decryption identities, the TrustStore of trust anchors, and
// discovery of a partner's certificates through DNS CERT records (RFC 4398)
// as the Direct Applicability Statement uses them.
//
// The package is protocol code: it must not import the gateway core or the
// other channels, it performs no S/MIME processing itself (see direct/smime),
// and it never logs key material or message content.
package certs
