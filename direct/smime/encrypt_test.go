package smime_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/referralgw/gateway/direct/smime"
)

func TestEncryptDecrypt(t *testing.T) {
	big := entity(strings.Repeat("0123456789abcdef", 4096) + "\r\n")
	tests := []struct {
		name       string
		ent        []byte
		recipients []*x509.Certificate
		opts       smime.EncryptOptions
	}{
		{"AES-256-CBC default", entity(referralText), []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{}},
		{"AES-128-CBC", entity(referralText), []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{Content: smime.AES128CBC}},
		{"RSA-OAEP", entity(referralText), []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{KeyTransport: smime.RSAOAEP}},
		{"we are the second recipient", big, []*x509.Certificate{fx.stranger.Cert, fx.rcpt.Cert}, smime.EncryptOptions{}},
		{"block-aligned content", bytes.Repeat([]byte("x"), 64), []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{}},
		{"empty content", nil, []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := smime.EncryptWith(tt.ent, tt.recipients, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(enc, []byte("Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n")) {
				t.Errorf("header: %q", enc[:80])
			}
			if bytes.Contains(enc, []byte("Testpatient")) {
				t.Fatal("plaintext visible in the encrypted entity")
			}
			got, err := smime.Decrypt(enc, fx.keyring)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.ent) {
				t.Errorf("decrypted %d bytes, want %d identical bytes", len(got), len(tt.ent))
			}
		})
	}
}

func TestEncryptRejects(t *testing.T) {
	tests := []struct {
		name       string
		recipients []*x509.Certificate
		opts       smime.EncryptOptions
	}{
		{"no recipients", nil, smime.EncryptOptions{}},
		{"unknown content algorithm", []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{Content: 99}},
		{"unknown key transport", []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{KeyTransport: 99}},
		{"certificate without keyEncipherment", []*x509.Certificate{fx.ca.Cert}, smime.EncryptOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := smime.EncryptWith(entity("x"), tt.recipients, tt.opts); err == nil {
				t.Error("EncryptWith succeeded")
			}
		})
	}
}

func TestDecryptRefusals(t *testing.T) {
	ent := entity(referralText)
	forStranger, err := smime.Encrypt(ent, []*x509.Certificate{fx.stranger.Cert}, smime.AES256CBC)
	if err != nil {
		t.Fatal(err)
	}
	good := mustEncrypt(t, ent)
	tests := []struct {
		name    string
		msg     []byte
		wantErr error
	}{
		{"wrong recipient key", forStranger, smime.ErrNoKey},
		{"not encrypted", ent, smime.ErrNotEncrypted},
		{"signed, not encrypted", mustSign(t, fx.sender, ent), smime.ErrNotEncrypted},
		{"truncated base64", good[:len(good)-200], smime.ErrMalformed},
		{"ciphertext corrupted", corruptCiphertext(t, good), smime.ErrDecrypt},
		{"no header end", []byte("Content-Type: application/pkcs7-mime"), smime.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := smime.Decrypt(tt.msg, fx.keyring)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != nil {
				t.Error("returned content with the error")
			}
		})
	}
}

// corruptCiphertext flips a bit in the last ciphertext block of an
// encrypted entity so that its padding no longer checks.
func corruptCiphertext(t *testing.T, msg []byte) []byte {
	t.Helper()
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	der, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(msg[i+4:])))
	if err != nil {
		t.Fatal(err)
	}
	der[len(der)-17] ^= 0x80 // in the next-to-last block: garbles the last block's padding
	var out bytes.Buffer
	out.Write(msg[:i+4])
	out.WriteString(base64.StdEncoding.EncodeToString(der))
	out.WriteString("\r\n")
	return out.Bytes()
}

func TestSignThenEncryptRoundTrip(t *testing.T) {
	ent := entity(referralText)
	wire, err := smime.Encrypt(mustSign(t, fx.sender, ent), []*x509.Certificate{fx.rcpt.Cert}, smime.AES128CBC)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := smime.Decrypt(wire, fx.keyring)
	if err != nil {
		t.Fatal(err)
	}
	v, err := smime.Verify(context.Background(), signed, fx.verifyOpts())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Entity, ent) {
		t.Error("entity changed through sign, encrypt, decrypt, verify")
	}
}
