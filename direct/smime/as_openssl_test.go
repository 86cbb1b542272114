package smime_test

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/smime"
)

// These tests check the Applicability Statement cases with a PKI, keys and
// messages made by openssl, as a remote HISP would make them.

func osslAnchors(t *testing.T, p *osslca.CA) *x509.CertPool {
	t.Helper()
	ca, err := certs.DecodeCertsPEM(p.CACert(t))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca[0])
	return pool
}

// osslSend signs entity as signer with openssl and encrypts it for rcpt;
// keyid picks the SubjectKeyIdentifier form of both identifiers (RFC 5652)
// instead of issuer and serial number.
func osslSend(t *testing.T, p *osslca.CA, signer, rcptPEM string, keyid bool) []byte {
	t.Helper()
	p.Write(t, "msg.eml", "Content-Type: text/plain; charset=utf-8\r\n\r\n"+referralText)
	sign := []string{"cms", "-sign", "-in", p.Path("msg.eml"), "-signer", p.Path(signer + ".pem"), "-inkey", p.Path(signer + "-key.pem"),
		"-md", "sha256", "-out", p.Path("signed.eml")}
	enc := []string{"cms", "-encrypt", "-in", p.Path("signed.eml"), "-aes256", "-out", p.Path("enc.eml"), rcptPEM}
	if keyid {
		sign = append(sign, "-keyid")
		enc = append(enc[:len(enc)-1], "-keyid", rcptPEM)
	}
	p.Run(t, sign...)
	p.Run(t, enc...)
	return p.Read(t, "enc.eml")
}

// TestSubjectKeyIdentifierForms (issue case 6): a message whose recipient
// and signer are named by SubjectKeyIdentifier decrypts and verifies like
// one that names them by issuer and serial.
func TestSubjectKeyIdentifierForms(t *testing.T) {
	p := osslca.New(t, "")
	sender := p.Issue(t, "sender", senderAddr, "rsa:2048")
	rcpt := p.Issue(t, "rcpt", recipientAddr, "rsa:2048")
	keys := certs.NewKeyring()
	if err := keys.Add(rcpt); err != nil {
		t.Fatal(err)
	}
	for _, keyid := range []bool{false, true} {
		wire := osslSend(t, p, "sender", p.Path("rcpt.pem"), keyid)
		inner, err := smime.Decrypt(wire, keys)
		if err != nil {
			t.Fatalf("keyid=%v: decrypt: %v", keyid, err)
		}
		v, err := smime.Verify(context.Background(), inner, smime.VerifyOptions{Sender: senderAddr,
			TrustAnchors: osslAnchors(t, p), SkipRevocation: true})
		if err != nil {
			t.Fatalf("keyid=%v: verify: %v", keyid, err)
		}
		if !v.Signer.Equal(sender.Cert) || !strings.Contains(string(v.Entity), "Jane Testpatient") {
			t.Fatalf("keyid=%v: signer %s", keyid, v.Signer.Subject.CommonName)
		}
	}
}

// TestWeakKeysRefused (issue case 5): RSA-1024 is refused for signing,
// encryption, as a signer we verify and as one of our identities, with a
// reason that names the size.
func TestWeakKeysRefused(t *testing.T) {
	p := osslca.New(t, "")
	weak := p.Issue(t, "weak", senderAddr, "rsa:1024")
	rcpt := p.Issue(t, "rcpt", recipientAddr, "rsa:2048")
	ecCert := func(name, curve string) *x509.Certificate {
		p.Run(t, "ecparam", "-name", curve, "-out", p.Path(curve+".pem"))
		p.IssueCert(t, name, name+"@direct.example-clinic.test", "ec:"+p.Path(curve+".pem"))
		cs, err := certs.DecodeCertsPEM(p.Read(t, name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		return cs[0]
	}
	keys := certs.NewKeyring()
	if err := keys.Add(rcpt); err != nil {
		t.Fatal(err)
	}
	// Inbound: openssl signs with the 1024-bit key; we refuse the signer.
	inner, err := smime.Decrypt(osslSend(t, p, "weak", p.Path("rcpt.pem"), false), keys)
	if err != nil {
		t.Fatal(err)
	}
	_, err = smime.Verify(context.Background(), inner, smime.VerifyOptions{Sender: senderAddr, TrustAnchors: osslAnchors(t, p), SkipRevocation: true})
	if !errors.Is(err, smime.ErrWeakKey) || !strings.Contains(err.Error(), "RSA key of 1024 bits, at least 2048 required") {
		t.Fatalf("verify a 1024-bit signer: %v", err)
	}
	// Outbound: no encryption for, and no signing with, a 1024-bit key.
	if _, err := smime.Encrypt(entity(referralText), []*x509.Certificate{weak.Cert}, smime.AES256CBC); !errors.Is(err, smime.ErrWeakKey) {
		t.Fatalf("encrypt for a 1024-bit recipient: %v", err)
	}
	if _, err := smime.Sign(entity(referralText), weak.Cert, weak.Key, nil); !errors.Is(err, smime.ErrWeakKey) {
		t.Fatalf("sign with a 1024-bit key: %v", err)
	}
	if err := certs.NewKeyring().Add(weak); !errors.Is(err, certs.ErrWeakKey) {
		t.Fatalf("keyring took a 1024-bit identity: %v", err)
	}
	// An EC key under P-256 is refused too; P-256 itself passes the size rule.
	if err := certs.CheckCertKey(ecCert("p256", "prime256v1")); err != nil {
		t.Fatalf("P-256: %v", err)
	}
	if err := certs.CheckCertKey(ecCert("p224", "secp224r1")); !errors.Is(err, certs.ErrWeakKey) || !strings.Contains(err.Error(), "P-224") {
		t.Fatalf("P-224: %v", err)
	}
}

// TestVersion1CRL (issue case 7): a v1 CRL (no version field, no
// extensions; RFC 5280 allows it) made by openssl ca is read: a listed
// signer is revoked, an unlisted one passes.
func TestVersion1CRL(t *testing.T) {
	var crlDER []byte
	fetch := smime.CRLFetcherFunc(func(_ context.Context, url string) (*x509.RevocationList, error) {
		return smime.ParseCRL(crlDER)
	})
	p := osslca.New(t, "http://crl.openssl-hisp.test/ca.crl")
	p.Issue(t, "sender", senderAddr, "rsa:2048")
	p.Issue(t, "revoked", senderAddr, "rsa:2048")
	rcpt := p.Issue(t, "rcpt", recipientAddr, "rsa:2048")
	keys := certs.NewKeyring()
	if err := keys.Add(rcpt); err != nil {
		t.Fatal(err)
	}
	p.Revoke(t, "revoked")
	crlDER = p.CRL(t, true)
	if out := string(p.Run(t, "crl", "-inform", "DER", "-in", writeTemp(t, crlDER), "-noout", "-text")); !strings.Contains(out, "Version 1") {
		t.Fatalf("openssl did not make a v1 CRL:\n%s", out)
	}
	opts := smime.VerifyOptions{Sender: senderAddr, TrustAnchors: osslAnchors(t, p), CRLs: fetch, Now: time.Now}
	for _, tc := range []struct {
		signer string
		want   error
	}{{"sender", nil}, {"revoked", smime.ErrCertRevoked}} {
		inner, err := smime.Decrypt(osslSend(t, p, tc.signer, p.Path("rcpt.pem"), false), keys)
		if err != nil {
			t.Fatal(err)
		}
		_, err = smime.Verify(context.Background(), inner, opts)
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Fatalf("%s with a v1 CRL: %v, want %v", tc.signer, err, tc.want)
		}
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "crl-*.der")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
