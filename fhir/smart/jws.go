package smart

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// signerMethod adapts any crypto.Signer (a private key in memory, an HSM or
// KMS handle) to jwt.SigningMethod, so keys need not be *rsa.PrivateKey or
// *ecdsa.PrivateKey. Verification is delegated to the library's own method.
type signerMethod struct {
	alg    string
	hash   crypto.Hash
	ecSize int // bytes per ECDSA coordinate; 0 for RSA
	verify jwt.SigningMethod
}

func (m *signerMethod) Alg() string { return m.alg }

func (m *signerMethod) Verify(signingString string, sig []byte, key any) error {
	return m.verify.Verify(signingString, sig, key)
}

func (m *signerMethod) Sign(signingString string, key any) ([]byte, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("smart: sign %s: key %T is not a crypto.Signer", m.alg, key)
	}
	h := m.hash.New()
	h.Write([]byte(signingString))
	sig, err := signer.Sign(rand.Reader, h.Sum(nil), m.hash)
	if err != nil {
		return nil, fmt.Errorf("smart: sign %s: %w", m.alg, err)
	}
	if m.ecSize == 0 {
		return sig, nil
	}
	return ecdsaDERToJWS(sig, m.ecSize)
}

// ecdsaDERToJWS converts an ASN.1 ECDSA signature, as crypto.Signer returns
// it, to the fixed-width r||s form JWS uses (RFC 7518 §3.4).
func ecdsaDERToJWS(der []byte, size int) ([]byte, error) {
	var parsed struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &parsed)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("smart: sign: malformed ECDSA signature")
	}
	if parsed.R.Sign() <= 0 || parsed.S.Sign() <= 0 || len(parsed.R.Bytes()) > size || len(parsed.S.Bytes()) > size {
		return nil, errors.New("smart: sign: ECDSA signature out of range")
	}
	out := make([]byte, 2*size)
	parsed.R.FillBytes(out[:size])
	parsed.S.FillBytes(out[size:])
	return out, nil
}

// methodForSigner picks the JWS algorithm for a signer's public key: for
// client assertions (assertion true) RS384 or ES384 as SMART requires, for
// access tokens RS256 or ES256.
func methodForSigner(s crypto.Signer, assertion bool) (*signerMethod, error) {
	if _, err := algForKey(s.Public()); err != nil {
		return nil, fmt.Errorf("smart: signing key: %w", err)
	}
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("smart: RSA key of %d bits is below %d", pub.N.BitLen(), minRSABits)
		}
		if assertion {
			return &signerMethod{alg: "RS384", hash: crypto.SHA384, verify: jwt.SigningMethodRS384}, nil
		}
		return &signerMethod{alg: "RS256", hash: crypto.SHA256, verify: jwt.SigningMethodRS256}, nil
	case *ecdsa.PublicKey:
		switch {
		case assertion && pub.Curve == elliptic.P384():
			return &signerMethod{alg: "ES384", hash: crypto.SHA384, ecSize: 48, verify: jwt.SigningMethodES384}, nil
		case !assertion && pub.Curve == elliptic.P256():
			return &signerMethod{alg: "ES256", hash: crypto.SHA256, ecSize: 32, verify: jwt.SigningMethodES256}, nil
		}
		if assertion {
			return nil, fmt.Errorf("smart: client assertion key must be EC P-384, not %s", pub.Curve.Params().Name)
		}
		return nil, fmt.Errorf("smart: access token key must be EC P-256, not %s", pub.Curve.Params().Name)
	}
	return nil, fmt.Errorf("smart: unsupported signing key %T", s.Public())
}
