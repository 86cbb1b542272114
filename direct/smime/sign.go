package smime

import (
	"github.com/referralgw/gateway/direct/certs"

	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// Sign returns a complete multipart/signed MIME entity (RFC 5751 section
// 3.5.3, protocol application/pkcs7-signature, micalg sha-256) whose first
// part is entity byte for byte and whose second part is a detached CMS
// SignedData: SHA-256, RSA, with content-type, message-digest and
// signing-time signed attributes. entity must be a canonical MIME entity
// (headers, empty line, body; CRLF line endings) and signer an RSA
// certificate for key. chain lists the intermediates to ship, issuer first;
// the trust anchor may be left out.
//
// The signing-time attribute is taken from the system clock by the CMS
// library; it is informational and Verify judges validity at its own time.
func Sign(entity []byte, signer *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	if err := checkCanonical(entity); err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	if signer == nil || key == nil {
		return nil, errors.New("smime: sign: no signer certificate or key")
	}
	pub, ok := signer.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("smime: sign: signer key is %T, Direct requires RSA", signer.PublicKey)
	}
	if err := certs.CheckKeyStrength(pub); err != nil {
		return nil, fmt.Errorf("smime: sign: %w: %w", ErrWeakKey, err)
	}
	if !pub.Equal(key.Public()) {
		return nil, errors.New("smime: sign: key does not match signer certificate")
	}
	sd, err := pkcs7.NewSignedData(entity)
	if err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(signer, key, chain, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	sd.Detach()
	sig, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	boundary, err := newBoundary(entity)
	if err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	var out bytes.Buffer
	out.Grow(len(entity) + len(sig)*4/3 + 512)
	fmt.Fprintf(&out, "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n\tboundary=\"%s\"\r\n", boundary)
	out.WriteString("\r\nThis is a cryptographically signed message in MIME format.\r\n\r\n")
	fmt.Fprintf(&out, "--%s\r\n", boundary)
	out.Write(entity)
	fmt.Fprintf(&out, "\r\n--%s\r\n", boundary)
	out.WriteString("Content-Type: application/pkcs7-signature; name=smime.p7s\r\n")
	out.WriteString("Content-Transfer-Encoding: base64\r\n")
	out.WriteString("Content-Disposition: attachment; filename=smime.p7s\r\n")
	out.WriteString("Content-Description: S/MIME Cryptographic Signature\r\n\r\n")
	writeBase64Lines(&out, sig)
	fmt.Fprintf(&out, "\r\n--%s--\r\n", boundary)
	return out.Bytes(), nil
}
