package smime

import (
	"github.com/referralgw/gateway/direct/certs"

	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"
)

// VerifyOptions says whom to trust and how to judge the signer certificate.
type VerifyOptions struct {
	// Sender is the envelope or From address the message claims; the signer
	// certificate must be bound to it or to its domain.
	Sender string
	// TrustAnchors are the CA certificates a signer must chain to.
	TrustAnchors *x509.CertPool
	// Intermediates supplements the certificates carried in the signature.
	Intermediates []*x509.Certificate
	// Now is the verification clock; nil means time.Now.
	Now func() time.Time
	// CRLs fetches the CRLs named by the chain's distribution points; wrap it
	// in a CRLCache. It is required unless SkipRevocation is set.
	CRLs CRLFetcher
	// SkipRevocation disables CRL checking, for tests and offline tools only.
	SkipRevocation bool
	// RevocationSoftFail accepts a certificate whose CRL cannot be obtained
	// (Verified.RevocationUnknown is then set) instead of refusing it.
	RevocationSoftFail bool
}

// Verified describes an accepted signature.
type Verified struct {
	// Entity is the signed MIME entity exactly as received (for an opaque
	// signature, the encapsulated content).
	Entity []byte
	// Signer is the signing certificate.
	Signer *x509.Certificate
	// Chain runs from Signer to the trust anchor.
	Chain []*x509.Certificate
	// SigningTime is the signer's claimed signing-time attribute, zero if absent.
	SigningTime time.Time
	// Opaque is true for application/pkcs7-mime signed-data, false for multipart/signed.
	Opaque bool
	// RevocationUnknown is true when RevocationSoftFail let an unchecked certificate through.
	RevocationUnknown bool
}

// Verify checks an S/MIME signed entity: multipart/signed with a detached
// CMS signature (hashing the first part exactly as received, per RFC 1847
// and RFC 5751; a copy whose line endings were turned into bare LF is also
// accepted after restoring CRLF) or application/pkcs7-mime signed-data. It
// then checks the signer certificate: chain to opts.TrustAnchors, validity
// at opts.Now, digitalSignature key usage, CRL revocation and binding to
// opts.Sender. Direct signatures have exactly one signer, SHA-256 or
// stronger, with signed attributes; anything else is ErrBadSignature. Every
// refusal wraps one of the package's Err values.
func Verify(ctx context.Context, signedEntity []byte, opts VerifyOptions) (*Verified, error) {
	v, err := verify(ctx, signedEntity, opts)
	if err != nil {
		return nil, fmt.Errorf("smime: verify: %w", err)
	}
	return v, nil
}

func verify(ctx context.Context, raw []byte, opts VerifyOptions) (*Verified, error) {
	if opts.TrustAnchors == nil {
		return nil, errors.New("no trust anchors configured")
	}
	if opts.CRLs == nil && !opts.SkipRevocation {
		return nil, errors.New("no CRL fetcher configured and revocation not explicitly skipped")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	at := now()

	p7, content, opaque, err := extractSignature(raw)
	if err != nil {
		return nil, err
	}
	res := &Verified{Opaque: opaque}
	signer, err := checkSignature(p7, content, opaque)
	if err != nil {
		return nil, err
	}
	res.Signer = signer
	res.Entity = p7.Content
	var st time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &st); err == nil {
		res.SigningTime = st
	}

	chain, err := checkCertificate(signer, p7.Certificates, opts, at)
	if err != nil {
		return nil, err
	}
	for _, c := range chain {
		if err := certs.CheckCertKey(c); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrWeakKey, err)
		}
	}
	res.Chain = chain
	if !opts.SkipRevocation {
		if err := checkRevocation(ctx, chain, opts.CRLs, at); err != nil {
			if !opts.RevocationSoftFail || !errors.Is(err, ErrRevocationUnknown) {
				return nil, err
			}
			res.RevocationUnknown = true
		}
	}
	if err := checkAddressBinding(signer, opts.Sender); err != nil {
		return nil, err
	}
	return res, nil
}

// extractSignature finds the CMS SignedData of a signed entity and the
// content it signs: the first part of multipart/signed exactly as received,
// or the encapsulated content of application/pkcs7-mime signed-data.
func extractSignature(raw []byte) (p7 *pkcs7.PKCS7, content []byte, opaque bool, err error) {
	e, err := parseEntity(raw)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case e.mediaType == "multipart/signed":
		proto := strings.ToLower(e.params["protocol"])
		if proto != "application/pkcs7-signature" && proto != "application/x-pkcs7-signature" {
			return nil, nil, false, fmt.Errorf("multipart/signed protocol %q: %w", proto, ErrUnsigned)
		}
		parts, err := splitMultipart(e.body, e.params["boundary"])
		if err != nil {
			return nil, nil, false, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if len(parts) != 2 {
			return nil, nil, false, fmt.Errorf("%w: multipart/signed has %d parts, want 2", ErrMalformed, len(parts))
		}
		sigPart, err := parseEntity(parts[1])
		if err != nil {
			return nil, nil, false, fmt.Errorf("%w: signature part: %w", ErrMalformed, err)
		}
		if sigPart.mediaType != "application/pkcs7-signature" && sigPart.mediaType != "application/x-pkcs7-signature" {
			return nil, nil, false, fmt.Errorf("signature part is %q: %w", sigPart.mediaType, ErrUnsigned)
		}
		der, err := sigPart.decodedBody()
		if err != nil {
			return nil, nil, false, fmt.Errorf("%w: signature part: %w", ErrMalformed, err)
		}
		if p7, err = parsePKCS7(der); err != nil {
			return nil, nil, false, err
		}
		p7.Content = parts[0]
		return p7, parts[0], false, nil
	case isPKCS7Mime(e.mediaType):
		switch st := strings.ToLower(e.params["smime-type"]); st {
		case "", "signed-data":
		case "enveloped-data", "authenveloped-data":
			return nil, nil, false, fmt.Errorf("entity is still encrypted: %w", ErrUnsigned)
		default:
			return nil, nil, false, fmt.Errorf("smime-type %q: %w", st, ErrUnsigned)
		}
		der, err := e.decodedBody()
		if err != nil {
			return nil, nil, false, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if p7, err = parsePKCS7(der); err != nil {
			return nil, nil, false, err
		}
		return p7, p7.Content, true, nil
	default:
		return nil, nil, false, fmt.Errorf("content type %q: %w", e.mediaType, ErrUnsigned)
	}
}

// parsePKCS7 parses a CMS SignedData. The input is first normalised by
// berToDER, which is linear and bounds nesting: the fork's own BER pass
// rescans the remaining input at every indefinite-length child (quadratic
// time on hostile input) and recurses without limit. A parser panic becomes
// ErrMalformed.
func parsePKCS7(ber []byte) (p7 *pkcs7.PKCS7, err error) {
	der, err := berToDER(ber)
	if err != nil {
		return nil, fmt.Errorf("%w: CMS: %w", ErrMalformed, err)
	}
	defer func() {
		if r := recover(); r != nil {
			p7, err = nil, fmt.Errorf("%w: CMS parser failed", ErrMalformed)
		}
	}()
	p7, err = pkcs7.Parse(nameSignersByIssuer(der))
	if err != nil {
		return nil, fmt.Errorf("%w: CMS: %w", ErrMalformed, err)
	}
	if len(p7.Signers) == 0 {
		return nil, fmt.Errorf("CMS has no signer: %w", ErrUnsigned)
	}
	return p7, nil
}

// checkSignature verifies the single signer's signature over content and
// returns its certificate. For a detached signature whose content was
// stored with bare LF line endings, the canonical CRLF form is tried too.
func checkSignature(p7 *pkcs7.PKCS7, content []byte, opaque bool) (*x509.Certificate, error) {
	if len(p7.Signers) != 1 {
		return nil, fmt.Errorf("%w: %d signers, Direct expects one", ErrBadSignature, len(p7.Signers))
	}
	si := p7.Signers[0]
	switch alg := si.DigestAlgorithm.Algorithm; {
	case alg.Equal(pkcs7.OIDDigestAlgorithmSHA256), alg.Equal(pkcs7.OIDDigestAlgorithmSHA384), alg.Equal(pkcs7.OIDDigestAlgorithmSHA512):
	default:
		return nil, fmt.Errorf("%w: digest algorithm %v not allowed", ErrBadSignature, alg)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, fmt.Errorf("%w: signer certificate not included", ErrBadSignature)
	}
	if len(si.AuthenticatedAttributes) == 0 {
		return nil, fmt.Errorf("%w: no signed attributes", ErrBadSignature)
	}
	err := verifySigner(p7)
	if err != nil && !opaque && bytes.IndexByte(content, '\n') >= 0 {
		if crlf := toCRLF(content); !bytes.Equal(crlf, content) {
			p7.Content = crlf
			if verifySigner(p7) == nil {
				p7.Content = content
				return signer, nil
			}
			p7.Content = content
		}
	}
	if err != nil {
		return nil, err
	}
	return signer, nil
}

// verifySigner checks the message digest and the signature of p7.Content.
// The chain is checked separately, so no trust store is given here; a
// signing time outside the certificate's validity is reported as expiry.
func verifySigner(p7 *pkcs7.PKCS7) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: CMS verifier failed", ErrMalformed)
		}
	}()
	err = p7.VerifyWithChainAtTime(nil, time.Time{})
	var stErr *pkcs7.SigningTimeNotValidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &stErr):
		return fmt.Errorf("%w: %w", ErrCertExpired, err)
	default:
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
}

// checkCertificate validates the signer certificate at time at and returns
// the chain from signer to anchor.
func checkCertificate(signer *x509.Certificate, carried []*x509.Certificate, opts VerifyOptions, at time.Time) ([]*x509.Certificate, error) {
	if at.Before(signer.NotBefore) || at.After(signer.NotAfter) {
		return nil, fmt.Errorf("%w: %q valid %s to %s, checked at %s", ErrCertExpired, signer.Subject.CommonName,
			signer.NotBefore.UTC().Format(time.RFC3339), signer.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	if signer.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("%w: %q", ErrKeyUsage, signer.Subject.CommonName)
	}
	inter := x509.NewCertPool()
	for _, c := range carried {
		if c != signer {
			inter.AddCert(c)
		}
	}
	for _, c := range opts.Intermediates {
		inter.AddCert(c)
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots:         opts.TrustAnchors,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			return nil, fmt.Errorf("%w: %w", ErrCertExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrUntrustedAnchor, err)
	}
	return chains[0], nil
}

// CarriedCertificates returns the certificates a signed entity carries in
// its CMS SignedData, unverified: what a caller needs to complete the
// signer's chain (for example through AIA links) before Verify.
func CarriedCertificates(signedEntity []byte) ([]*x509.Certificate, error) {
	p7, _, _, err := extractSignature(signedEntity)
	if err != nil {
		return nil, fmt.Errorf("smime: certificates: %w", err)
	}
	return p7.Certificates, nil
}
