package smime

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ParseCRL parses a DER certificate revocation list of either version.
// crypto/x509 reads only version 2; a version 1 list (no version field,
// no extensions), which RFC 5280 section 5.1.2.1 still allows and some
// HISPs publish, is read here and returned in the same form.
func ParseCRL(der []byte) (*x509.RevocationList, error) {
	crl, err := x509.ParseRevocationList(der)
	if err == nil {
		return crl, nil
	}
	v1, err1 := parseV1CRL(der)
	if err1 != nil {
		return nil, fmt.Errorf("parse CRL: %w", errors.Join(err, err1))
	}
	return v1, nil
}

// v1CertList is RFC 5280's CertificateList without the optional version
// and extensions, as a version 1 list is encoded.
type v1CertList struct {
	TBS       v1TBS
	SigAlg    asn1.RawValue
	Signature asn1.BitString
}

type v1TBS struct {
	Raw        asn1.RawContent
	SigAlg     v1AlgID
	Issuer     asn1.RawValue
	ThisUpdate time.Time
	NextUpdate time.Time        `asn1:"optional"`
	Revoked    []v1RevokedEntry `asn1:"optional"`
}

type v1AlgID struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type v1RevokedEntry struct {
	Serial *big.Int
	Time   time.Time
}

// v1SigAlgs maps the signature algorithms a v1 list may carry that Direct
// accepts (SHA-2 with RSA or ECDSA).
var v1SigAlgs = map[string]x509.SignatureAlgorithm{
	"1.2.840.113549.1.1.11": x509.SHA256WithRSA,
	"1.2.840.113549.1.1.12": x509.SHA384WithRSA,
	"1.2.840.113549.1.1.13": x509.SHA512WithRSA,
	"1.2.840.10045.4.3.2":   x509.ECDSAWithSHA256,
	"1.2.840.10045.4.3.3":   x509.ECDSAWithSHA384,
	"1.2.840.10045.4.3.4":   x509.ECDSAWithSHA512,
}

func parseV1CRL(der []byte) (*x509.RevocationList, error) {
	var cl v1CertList
	rest, err := asn1.Unmarshal(der, &cl)
	if err != nil {
		return nil, fmt.Errorf("version 1 CRL: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("version 1 CRL: trailing data")
	}
	alg, ok := v1SigAlgs[cl.TBS.SigAlg.Algorithm.String()]
	if !ok {
		return nil, fmt.Errorf("version 1 CRL: signature algorithm %s not accepted", cl.TBS.SigAlg.Algorithm)
	}
	rl := &x509.RevocationList{
		Raw:                  der,
		RawTBSRevocationList: cl.TBS.Raw,
		RawIssuer:            cl.TBS.Issuer.FullBytes,
		Signature:            cl.Signature.RightAlign(),
		SignatureAlgorithm:   alg,
		ThisUpdate:           cl.TBS.ThisUpdate,
		NextUpdate:           cl.TBS.NextUpdate,
	}
	for _, e := range cl.TBS.Revoked {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: e.Serial, RevocationTime: e.Time})
	}
	return rl, nil
}
