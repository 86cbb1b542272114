package smime_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/smime"
)

// openssl runs the openssl binary; the interop tests are mandatory in CI,
// where a missing binary fails the test instead of skipping it.
var openssl = osslca.OpenSSL

// writePKI writes the CA and the identities as PEM files into a temp dir
// and returns a function mapping a file name to its path.
func writePKI(t *testing.T, ids map[string]*certs.Identity) func(string) string {
	t.Helper()
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, data []byte) {
		if err := os.WriteFile(path(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", certs.EncodeCertPEM(fx.ca.Cert))
	for name, id := range ids {
		key, err := certs.EncodeKeyPEM(id.Key)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", certs.EncodeCertPEM(id.Cert))
		write(name+"-key.pem", key)
	}
	return path
}

// TestInteropOpenSSLReadsOurs: what we sign and encrypt, openssl cms
// decrypts and verifies against our CA, recovering the entity.
func TestInteropOpenSSLReadsOurs(t *testing.T) {
	run := openssl(t)
	path := writePKI(t, map[string]*certs.Identity{"rcpt": fx.rcpt})
	t.Log(string(run(t, "version")))
	ent := entity(referralText)
	tests := []struct {
		name string
		opts smime.EncryptOptions
	}{
		{"AES-256-CBC", smime.EncryptOptions{Content: smime.AES256CBC}},
		{"AES-128-CBC", smime.EncryptOptions{Content: smime.AES128CBC}},
		{"AES-256-CBC with RSA-OAEP", smime.EncryptOptions{KeyTransport: smime.RSAOAEP}},
		{"AES-256-GCM AuthEnvelopedData", smime.EncryptOptions{Content: smime.AES256GCM}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := smime.EncryptWith(mustSign(t, fx.sender, ent), []*x509.Certificate{fx.rcpt.Cert}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(t.TempDir(), "wire.eml")
			if err := os.WriteFile(in, wire, 0o600); err != nil {
				t.Fatal(err)
			}
			signed := run(t, "cms", "-decrypt", "-in", in, "-recip", path("rcpt.pem"), "-inkey", path("rcpt-key.pem"))
			signedPath := filepath.Join(t.TempDir(), "signed.eml")
			if err := os.WriteFile(signedPath, signed, 0o600); err != nil {
				t.Fatal(err)
			}
			// Not -binary: openssl 3.0 keeps a stray CR from a CRLF first part
			// in binary mode and then fails its own CRLF (-crlfeol) messages too.
			content := run(t, "cms", "-verify", "-in", signedPath, "-CAfile", path("ca.pem"))
			if !bytes.Equal(content, ent) {
				t.Errorf("openssl verified content differs:\n%q\nwant\n%q", content, ent)
			}
		})
	}
}

// TestInteropWeReadOpenSSL: what openssl cms signs (detached or opaque;
// SHA-256, -384 or -512; CRLF or LF line endings) and then encrypts, we
// decrypt and verify. SHA-1 (which Direct no longer allows for signatures)
// and a signature without the signer's certificate are refused.
func TestInteropWeReadOpenSSL(t *testing.T) {
	run := openssl(t)
	path := writePKI(t, map[string]*certs.Identity{"sender": fx.sender, "rcpt": fx.rcpt, "untrust": fx.untrust})
	ent := entity(referralText)
	entPath := filepath.Join(t.TempDir(), "entity.txt")
	if err := os.WriteFile(entPath, ent, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		signer     string
		md         string // the signature's digest; sha256 when empty
		signArgs   []string
		cipher     string
		encArgs    []string
		wantOpaque bool
		tamper     bool
		wantErr    error
	}{
		{name: "detached, AES-256", signer: "sender", cipher: "-aes256"},
		{name: "detached, CRLF file, AES-128", signer: "sender", signArgs: []string{"-crlfeol"}, cipher: "-aes128"},
		{name: "streamed (indefinite-length BER)", signer: "sender", cipher: "-aes256", encArgs: []string{"-stream"}},
		{name: "opaque signed-data", signer: "sender", signArgs: []string{"-nodetach"}, cipher: "-aes256", wantOpaque: true},
		{name: "RSA-OAEP key transport", signer: "sender", cipher: "-aes256",
			encArgs: []string{"-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256"}},
		{name: "AES-256-GCM AuthEnvelopedData", signer: "sender", cipher: "-aes-256-gcm"},
		{name: "AES-128-GCM AuthEnvelopedData, streamed", signer: "sender", cipher: "-aes-128-gcm", encArgs: []string{"-stream"}},
		{name: "SHA-384", signer: "sender", md: "sha384", cipher: "-aes256"},
		{name: "SHA-512, opaque", signer: "sender", md: "sha512", signArgs: []string{"-nodetach"}, cipher: "-aes128", wantOpaque: true},
		{name: "binary, LF line endings signed as they are", signer: "sender", signArgs: []string{"-binary"}, cipher: "-aes256"},
		{name: "SHA-1 refused", signer: "sender", md: "sha1", cipher: "-aes256", wantErr: smime.ErrBadSignature},
		{name: "signer certificate left out", signer: "sender", signArgs: []string{"-nocerts"}, cipher: "-aes256", wantErr: smime.ErrBadSignature},
		{name: "tampered after signing", signer: "sender", cipher: "-aes256", tamper: true, wantErr: smime.ErrBadSignature},
		{name: "signer under an untrusted CA", signer: "untrust", cipher: "-aes256", wantErr: smime.ErrUntrustedAnchor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			signedPath := filepath.Join(dir, "signed.eml")
			md := tt.md
			if md == "" {
				md = "sha256"
			}
			args := append([]string{"cms", "-sign", "-md", md, "-in", entPath, "-out", signedPath,
				"-signer", path(tt.signer + ".pem"), "-inkey", path(tt.signer + "-key.pem")}, tt.signArgs...)
			run(t, args...)
			if tt.tamper {
				b, err := os.ReadFile(signedPath)
				if err != nil {
					t.Fatal(err)
				}
				b = bytes.Replace(b, []byte("chest pain"), []byte("chest pian"), 1)
				if err := os.WriteFile(signedPath, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args = append([]string{"cms", "-encrypt", tt.cipher, "-in", signedPath, "-recip", path("rcpt.pem")}, tt.encArgs...)
			wire := run(t, args...)

			signed, err := smime.Decrypt(wire, fx.keyring)
			if err != nil {
				t.Fatal(err)
			}
			v, err := smime.Verify(context.Background(), signed, fx.verifyOpts())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Opaque != tt.wantOpaque {
				t.Errorf("Opaque = %v, want %v", v.Opaque, tt.wantOpaque)
			}
			// openssl stores the first part with the file's line endings; the
			// signed bytes are the canonical CRLF form of the entity.
			if got := bytes.ReplaceAll(v.Entity, []byte("\r\n"), []byte("\n")); !bytes.Equal(got, bytes.ReplaceAll(ent, []byte("\r\n"), []byte("\n"))) {
				t.Errorf("entity differs:\n%q\nwant\n%q", v.Entity, ent)
			}
			if !v.Signer.Equal(fx.sender.Cert) {
				t.Errorf("signer = %v", v.Signer.Subject)
			}
		})
	}
}
