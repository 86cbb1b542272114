package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
)

// ErrNoIdentity reports that the Keyring holds no identity for the address,
// domain or recipient asked for.
var ErrNoIdentity = errors.New("certs: no identity")

// Keyring holds our own Direct identities (certificate and private key),
// found by address or domain for signing and by issuer and serial number for
// decryption. It is safe for concurrent use.
type Keyring struct {
	mu       sync.RWMutex
	byAddr   map[string]*Identity
	byDomain map[string]*Identity
	all      []*Identity
}

// NewKeyring returns an empty Keyring.
func NewKeyring() *Keyring {
	return &Keyring{byAddr: map[string]*Identity{}, byDomain: map[string]*Identity{}}
}

// Add indexes id under every rfc822Name and dNSName of its certificate; a
// later identity for the same name replaces the earlier one for signing,
// while both stay available for decryption (certificate rollover).
func (k *Keyring) Add(id *Identity) error {
	if id == nil || id.Cert == nil || id.Key == nil {
		return errors.New("certs: keyring add: incomplete identity")
	}
	if len(id.Cert.EmailAddresses) == 0 && len(id.Cert.DNSNames) == 0 {
		return fmt.Errorf("certs: keyring add %q: certificate has no address or domain name", id.Cert.Subject.CommonName)
	}
	if err := CheckCertKey(id.Cert); err != nil {
		return fmt.Errorf("certs: keyring add: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, a := range id.Cert.EmailAddresses {
		k.byAddr[strings.ToLower(a)] = id
	}
	for _, d := range id.Cert.DNSNames {
		k.byDomain[strings.ToLower(d)] = id
	}
	k.all = append(k.all, id)
	return nil
}

// ForAddress returns the identity to sign with for our address addr: an
// address-bound certificate when there is one, else the domain-bound one.
func (k *Keyring) ForAddress(addr string) (*Identity, error) {
	addr = strings.ToLower(addr)
	k.mu.RLock()
	defer k.mu.RUnlock()
	if id, ok := k.byAddr[addr]; ok {
		return id, nil
	}
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		if id, ok := k.byDomain[addr[at+1:]]; ok {
			return id, nil
		}
	}
	return nil, fmt.Errorf("certs: keyring lookup %q: %w", addr, ErrNoIdentity)
}

// DecryptionKey returns the certificate and private key whose certificate has
// the given raw DER issuer name and serial number, as named by a CMS
// RecipientInfo. It satisfies smime.KeyResolver.
func (k *Keyring) DecryptionKey(issuer []byte, serial *big.Int) (*x509.Certificate, crypto.Decrypter, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, id := range k.all {
		if serial != nil && id.Cert.SerialNumber.Cmp(serial) == 0 && bytes.Equal(id.Cert.RawIssuer, issuer) {
			return id.Cert, id.Key, nil
		}
	}
	return nil, nil, fmt.Errorf("certs: keyring decryption key (serial %v): %w", serial, ErrNoIdentity)
}

// DecryptionKeyBySKI returns the certificate and private key whose
// certificate carries the subject key identifier ski, as a CMS
// RecipientInfo may name it. It satisfies smime.SKIKeyResolver.
func (k *Keyring) DecryptionKeyBySKI(ski []byte) (*x509.Certificate, crypto.Decrypter, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, id := range k.all {
		if len(ski) > 0 && bytes.Equal(id.Cert.SubjectKeyId, ski) {
			return id.Cert, id.Key, nil
		}
	}
	return nil, nil, fmt.Errorf("certs: keyring decryption key (subject key id %x): %w", ski, ErrNoIdentity)
}
