package certs

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// EncodeCertPEM returns certs as concatenated "CERTIFICATE" PEM blocks.
func EncodeCertPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// EncodeKeyPEM returns key as an unencrypted PKCS#8 "PRIVATE KEY" PEM block;
// write it only to files readable by the gateway alone.
func EncodeKeyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodeCRLPEM returns a DER CRL as an "X509 CRL" PEM block.
func EncodeCRLPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// DecodeCertsPEM parses every "CERTIFICATE" block of a PEM bundle, skipping
// other block types; it fails when the bundle holds no certificate.
func DecodeCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certs: decode certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("certs: decode certificates: no CERTIFICATE block")
	}
	return out, nil
}

// DecodeKeyPEM parses the first RSA private key block of data, PKCS#8
// ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY").
func DecodeKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("certs: decode key: no private key block")
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certs: decode key: %w", err)
			}
			return k, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certs: decode key: %w", err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("certs: decode key: %T is not an RSA key", k)
			}
			return rk, nil
		}
	}
}

// LoadIdentityPEM builds an Identity from a PEM certificate bundle (leaf
// first, then intermediates) and a PEM private key, checking that they match.
func LoadIdentityPEM(certPEM, keyPEM []byte) (*Identity, error) {
	chain, err := DecodeCertsPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: load identity: %w", err)
	}
	key, err := DecodeKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: load identity: %w", err)
	}
	return newIdentity(key, chain[0], chain[1:])
}

// LoadPKCS12 builds an Identity from a PKCS#12 (.p12/.pfx) file as HISPs
// and certificate vendors hand them out.
func LoadPKCS12(data []byte, password string) (*Identity, error) {
	key, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, fmt.Errorf("certs: load PKCS#12: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("certs: load PKCS#12: %T is not an RSA key", key)
	}
	return newIdentity(rk, leaf, chain)
}

// EncodePKCS12 packs id into a password-protected PKCS#12 file using the
// modern (AES, SHA-256) encoder.
func EncodePKCS12(id *Identity, password string) ([]byte, error) {
	out, err := pkcs12.Modern.Encode(id.Key, id.Cert, id.Chain, password)
	if err != nil {
		return nil, fmt.Errorf("certs: encode PKCS#12: %w", err)
	}
	return out, nil
}

func newIdentity(key *rsa.PrivateKey, leaf *x509.Certificate, chain []*x509.Certificate) (*Identity, error) {
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("certs: load identity: private key does not match certificate")
	}
	return &Identity{Cert: leaf, Key: key, Chain: chain}, nil
}
