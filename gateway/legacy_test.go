package gateway_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"testing"
)

// legacySeal seals content the way record bodies were sealed before data
// keys: AES-256-GCM directly under the KEK, the two ids as additional data.
func legacySeal(t *testing.T, kek []byte, referralID, recordID string, pt []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	ad := binary.BigEndian.AppendUint32(nil, uint32(len(referralID)))
	ad = append(ad, referralID...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(recordID)))
	ad = append(ad, recordID...)
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, pt, ad)
}
