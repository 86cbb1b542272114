package smime_test

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/smime"
)

// processedMDN is the MDN the recipient sends back for one of our messages.
func processedMDN(t *testing.T) []byte {
	t.Helper()
	b, err := mdn.Build(mdn.Notification{From: senderAddr, To: recipientAddr, MessageID: "mdn-1@direct.example-clinic.test",
		Date: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), ReportingUA: "direct.example-clinic.test; referralgw",
		FinalRecipient: senderAddr, OriginalMessageID: "ref-42@direct.example-other.test", Disposition: mdn.Processed})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInteropMDN: MDNs cross in both directions like any Direct message:
// ours signed and encrypted are read by openssl cms, and openssl's are
// read by us, and both parse back as the same processed MDN.
func TestInteropMDN(t *testing.T) {
	run := openssl(t)
	path := writePKI(t, map[string]*certs.Identity{"sender": fx.sender, "rcpt": fx.rcpt})
	ent := processedMDN(t)
	check := func(t *testing.T, content []byte) {
		t.Helper()
		rep, err := mdn.Parse(content)
		if err != nil {
			t.Fatalf("parse MDN after the round trip: %v", err)
		}
		if rep.Disposition != mdn.Processed || rep.OriginalMessageID != "ref-42@direct.example-other.test" {
			t.Fatalf("MDN after the round trip: %+v", rep)
		}
	}

	t.Run("openssl reads ours", func(t *testing.T) {
		wire, err := smime.Encrypt(mustSign(t, fx.sender, ent), []*x509.Certificate{fx.rcpt.Cert}, smime.AES256CBC)
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
		check(t, run(t, "cms", "-verify", "-in", signedPath, "-CAfile", path("ca.pem")))
	})

	t.Run("we read openssl's", func(t *testing.T) {
		dir := t.TempDir()
		entPath, signedPath := filepath.Join(dir, "mdn.eml"), filepath.Join(dir, "signed.eml")
		if err := os.WriteFile(entPath, ent, 0o600); err != nil {
			t.Fatal(err)
		}
		run(t, "cms", "-sign", "-md", "sha256", "-in", entPath, "-out", signedPath,
			"-signer", path("sender.pem"), "-inkey", path("sender-key.pem"))
		wire := run(t, "cms", "-encrypt", "-aes256", "-in", signedPath, "-recip", path("rcpt.pem"))
		signed, err := smime.Decrypt(wire, fx.keyring)
		if err != nil {
			t.Fatal(err)
		}
		v, err := smime.Verify(context.Background(), signed, fx.verifyOpts())
		if err != nil {
			t.Fatal(err)
		}
		check(t, v.Entity)
	})
}
