package channel_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/smtpout"
)

// TestSendReadByOpenSSL reads what Send hands to SMTP as the receiving
// HISP would, with openssl cms: the outer entity is enveloped-data
// (AES-256-CBC, RSA key transport, base64), inside it multipart/signed
// with micalg naming the digest the signature really uses, and what is
// signed is the whole message wrapped in message/rfc822 (RFC 5751 section
// 3.1, required by the Applicability Statement v1.3), with the delivery
// notification request inside. The wrong key does not decrypt it and the
// wrong anchor does not verify it.
func TestSendReadByOpenSSL(t *testing.T) {
	f := getFixture(t)
	run := osslca.OpenSSL(t)
	tr := &recorder{res: smtpout.Result{Code: 250}}
	if _, err := newChannel(t, tr, nil).Send(t.Context(), outbound(false)); err != nil {
		t.Fatal(err)
	}
	wrongCA, err := certs.NewDevCA("wrong-anchor.example", f.now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, id := range map[string]*certs.Identity{"theirs": f.theirs, "others": f.others} {
		key, err := certs.EncodeKeyPEM(id.Key)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", certs.EncodeCertPEM(id.Cert))
		write(name+"-key.pem", key)
	}
	write("ca.pem", certs.EncodeCertPEM(f.ca.Cert))
	write("wrong-ca.pem", certs.EncodeCertPEM(wrongCA.Cert))
	wire := tr.sent[0]
	write("wire.eml", wire)

	outer, _, _ := bytes.Cut(wire, []byte("\r\n\r\n"))
	for _, h := range []string{"Content-Type: application/pkcs7-mime; smime-type=enveloped-data", "Content-Transfer-Encoding: base64"} {
		if !bytes.Contains(outer, []byte(h)) {
			t.Errorf("outer header lacks %q:\n%s", h, outer)
		}
	}
	for _, h := range []string{"Disposition-Notification", "Content-Type: multipart"} {
		if bytes.Contains(outer, []byte(h)) {
			t.Errorf("outer header carries %q, which belongs inside the envelope", h)
		}
	}
	printed := string(run(t, "cms", "-cmsout", "-print", "-in", path("wire.eml"), "-inform", "SMIME"))
	for _, want := range []string{"aes-256-cbc", "rsaEncryption"} {
		if !strings.Contains(printed, want) {
			t.Errorf("envelope does not use %s", want)
		}
	}

	signed := run(t, "cms", "-decrypt", "-in", path("wire.eml"), "-recip", path("theirs.pem"), "-inkey", path("theirs-key.pem"))
	write("signed.eml", signed)
	sigHdr, _, _ := bytes.Cut(signed, []byte("\n\n"))
	if s := string(bytes.ReplaceAll(sigHdr, []byte("\r"), nil)); !strings.Contains(s, "multipart/signed") ||
		!strings.Contains(s, `protocol="application/pkcs7-signature"`) || !strings.Contains(s, "micalg=sha-256") {
		t.Errorf("signed entity header: %s", s)
	}
	if p := string(run(t, "cms", "-cmsout", "-print", "-in", path("signed.eml"), "-inform", "SMIME")); !strings.Contains(p, "sha256") ||
		strings.Contains(p, "sha1") {
		t.Errorf("signature digest is not SHA-256 as micalg says:\n%s", p)
	}
	content := run(t, "cms", "-verify", "-in", path("signed.eml"), "-CAfile", path("ca.pem"))
	hdr, msg, ok := bytes.Cut(content, []byte("\r\n\r\n"))
	if !ok || !bytes.Contains(hdr, []byte("Content-Type: message/rfc822")) {
		t.Fatalf("signed content is not wrapped in message/rfc822:\n%.400s", content)
	}
	for _, h := range []string{"From: <" + ourAddr + ">", "Message-Id: <del-0001@" + ourDomain + ">",
		"Disposition-Notification-To: <" + ourAddr + ">", "Disposition-Notification-Options: X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,true\r\n",
		"Content-Type: multipart/mixed;"} {
		if !bytes.Contains(msg, []byte(h)) {
			t.Errorf("wrapped message lacks %q", h)
		}
	}

	// The wrong certificates: openssl refuses.
	fails := func(what string, args ...string) {
		t.Helper()
		if out, err := exec.Command("openssl", args...).Output(); err == nil {
			t.Errorf("%s succeeded:\n%.200s", what, out)
		}
	}
	fails("decrypt with another receiver's key", "cms", "-decrypt", "-in", path("wire.eml"), "-recip", path("others.pem"), "-inkey", path("others-key.pem"))
	fails("verify against another anchor", "cms", "-verify", "-in", path("signed.eml"), "-CAfile", path("wrong-ca.pem"))
}
