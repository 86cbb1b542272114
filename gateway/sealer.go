package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Sealer encrypts record content at rest with AES-256-GCM. The referral and
// record ids are bound as additional data, so sealed content cannot be moved
// to another record unnoticed.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer makes a Sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealer: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext for (referralID, recordID).
func (s *Sealer) Seal(referralID, recordID string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealer: nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, binding(referralID, recordID)), nil
}

// Open decrypts sealed content of (referralID, recordID).
func (s *Sealer) Open(referralID, recordID string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealer: sealed content too short")
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], binding(referralID, recordID))
	if err != nil {
		return nil, fmt.Errorf("sealer: open record %s: %w", recordID, err)
	}
	return pt, nil
}

// ContentHash is the hex SHA-256 of content, as stored in Record.SHA256.
func ContentHash(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// binding is the additional data sealing content to one record: both ids,
// each length-prefixed so no two id pairs share a binding.
func binding(referralID, recordID string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(referralID)))
	b = append(b, referralID...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(recordID)))
	return append(b, recordID...)
}
