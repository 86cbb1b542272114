package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
)

// Minimum key sizes the gateway accepts anywhere: for our own keys, for a
// recipient we encrypt for, for a signer we verify and for the
// certificates of its chain. Smaller keys are refused in both directions.
const (
	MinRSABits = 2048
	MinECBits  = 256
)

// ErrWeakKey reports a key below MinRSABits (RSA) or MinECBits (EC).
var ErrWeakKey = errors.New("key too weak")

// CheckKeyStrength refuses RSA keys under 2048 bits, EC keys on curves
// under P-256, and key types Direct does not use; the error names the
// size found.
func CheckKeyStrength(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < MinRSABits {
			return fmt.Errorf("%w: RSA key of %d bits, at least %d required", ErrWeakKey, n, MinRSABits)
		}
	case *ecdsa.PublicKey:
		if n := k.Curve.Params().BitSize; n < MinECBits {
			return fmt.Errorf("%w: EC key on %s (%d bits), at least P-256 required", ErrWeakKey, k.Curve.Params().Name, n)
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("%w: unsupported public key type %T", ErrWeakKey, pub)
	}
	return nil
}

// CheckCertKey is CheckKeyStrength for a certificate, naming it.
func CheckCertKey(cert *x509.Certificate) error {
	if err := CheckKeyStrength(cert.PublicKey); err != nil {
		return fmt.Errorf("certificate %q: %w", cert.Subject.CommonName, err)
	}
	return nil
}
