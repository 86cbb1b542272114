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
		{"AES-256-GCM AuthEnvelopedData", entity(referralText), []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{Content: smime.AES256GCM}},
		{"AES-128-GCM with RSA-OAEP", entity(referralText), []*x509.Certificate{fx.rcpt.Cert}, smime.EncryptOptions{Content: smime.AES128GCM, KeyTransport: smime.RSAOAEP}},
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
			smimeType := "enveloped-data"
			if tt.opts.Content == smime.AES256GCM || tt.opts.Content == smime.AES128GCM {
				smimeType = "authEnveloped-data"
			}
			if !bytes.HasPrefix(enc, []byte("Content-Type: application/pkcs7-mime; smime-type="+smimeType+"; name=smime.p7m\r\n")) {
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
	gcm, err := smime.Encrypt(ent, []*x509.Certificate{fx.rcpt.Cert}, smime.AES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		msg     []byte
		wantErr error
	}{
		{"wrong recipient key", forStranger, smime.ErrNoKey},
		{"not encrypted", ent, smime.ErrNotEncrypted},
		{"signed, not encrypted", mustSign(t, fx.sender, ent), smime.ErrNotEncrypted},
		{"truncated base64", good[:len(good)-200], smime.ErrMalformed},
		// The CBC ciphertext ends the DER: flipping the last byte of the
		// next-to-last block garbles the padding byte of the last block.
		{"CBC ciphertext corrupted", flipBit(t, good, 17), smime.ErrDecrypt},
		// The GCM tag ends the DER (mac OCTET STRING).
		{"GCM tag corrupted", flipBit(t, gcm, 1), smime.ErrDecrypt},
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

// flipBit flips the top bit of the byte fromEnd bytes before the end of
// the DER inside an encrypted entity.
func flipBit(t *testing.T, msg []byte, fromEnd int) []byte {
	t.Helper()
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	der, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(msg[i+4:])))
	if err != nil {
		t.Fatal(err)
	}
	der[len(der)-fromEnd] ^= 0x80
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

func TestDecryptWholeMessage(t *testing.T) {
	ent := entity(referralText)
	msg := append([]byte("From: "+senderAddr+"\r\nTo: "+recipientAddr+"\r\n"+
		"Subject: Referral (synthetic)\r\nMessage-ID: <synthetic-1@direct.example-clinic.test>\r\nMIME-Version: 1.0\r\n"),
		mustEncrypt(t, ent)...)
	got, err := smime.Decrypt(msg, fx.keyring)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ent) {
		t.Error("decrypted entity differs")
	}
}
