package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/gateway"
)

// startCERTServer answers DNS CERT queries over UDP from records (owner
// name → DER certificate) and NXDOMAIN for anything else.
func startCERTServer(t *testing.T, records map[string][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if der, ok := records[strings.ToLower(q.Name)]; ok && q.Qtype == dns.TypeCERT {
			m.Answer = []dns.RR{&dns.CERT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCERT, Class: dns.ClassINET, Ttl: 300},
				Type: dns.CertPKIX, Certificate: base64.StdEncoding.EncodeToString(der)}}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestReferralCreateUsesServeChannelConfig: `referral create` builds its
// Direct channel as `serve` does, so GATEWAY_DNS discovers a receiver's
// certificate; without it the referral waits in draft, saying why.
func TestReferralCreateUsesServeChannelConfig(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if _, errOut, code := gw(t, dir, "certs", "dev", "--domain", "direct.clinic-a.example", "--out", certDir); code != 0 {
		t.Fatalf("certs dev: %s", errOut)
	}
	// The receiver's own CA, which we trust, and its address certificate in DNS.
	theirCA, err := certs.NewDevCA("direct.cardio-z.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := theirCA.IssueAddress("intake@direct.cardio-z.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(certDir, "anchors"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "anchors", "cardio-z.pem"), certs.EncodeCertPEM(theirCA.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	dnsAddr := startCERTServer(t, map[string][]byte{"intake.direct.cardio-z.example.": theirs.Cert.Raw})

	if _, errOut, code := gw(t, dir, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	cfg, _, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, seeder := context.Background(), gateway.Actor{ID: "user:seed"}
	for _, e := range []*gateway.Entry{
		{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic", NPI: "1234567893"},
		{ID: "cardio-z", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology Z",
			Direct: &gateway.DirectEndpoint{Address: "intake@direct.cardio-z.example"}},
	} {
		if _, err := a.svc.PutEntry(ctx, seeder, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.svc.VerifyEntry(ctx, seeder, "cardio-z", "phone call"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.SetBAA(ctx, seeder, gateway.BAAChange{PartyID: "cardio-z", State: gateway.BAAActive, End: time.Now().AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	ref := filepath.Join(dir, "ref.json")
	b, _ := json.Marshal(map[string]any{"requester": map[string]any{"orgId": "clinic-a", "name": "Dr. Synthetic Primary"},
		"receiverId": "cardio-z", "patient": map[string]any{"id": "MRN-7", "familyName": "Testpatient", "givenName": "Alex"},
		"reason": map[string]any{"code": "49436004", "display": "Atrial fibrillation"}, "consent": map[string]any{"kind": "treatment"},
		"submit": true})
	if err := os.WriteFile(ref, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEWAY_DIRECT_DOMAIN", "direct.clinic-a.example")
	t.Setenv("GATEWAY_DIRECT_CERTS", certDir)

	out, errOut, code := gw(t, dir, "referral", "create", "--file", ref)
	if code != exitRefused || !strings.Contains(out+errOut, "DNS discovery is not configured") {
		t.Fatalf("without GATEWAY_DNS: %d %q %q", code, out, errOut)
	}
	t.Setenv("GATEWAY_DNS", dnsAddr)
	out, errOut, code = gw(t, dir, "referral", "create", "--file", ref)
	if code != 0 || !strings.Contains(out, "requested") {
		t.Fatalf("with GATEWAY_DNS: %d %q %q", code, out, errOut)
	}
}

// TestCertsCheck: `certs check` shows what DNS publishes for an address,
// the chain and anchor, and refuses a 1024-bit RSA certificate with the
// reason, while a good one is usable.
func TestCertsCheck(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if _, errOut, code := gw(t, dir, "certs", "dev", "--domain", "direct.clinic-a.example", "--out", certDir); code != 0 {
		t.Fatalf("certs dev: %s", errOut)
	}
	theirCA, err := certs.NewDevCA("direct.cardio-z.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good, err := theirCA.IssueAddress("intake@direct.cardio-z.example")
	if err != nil {
		t.Fatal(err)
	}
	weak := weakCert(t, theirCA, "old@direct.cardio-z.example")
	if err := os.MkdirAll(filepath.Join(certDir, "anchors"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "anchors", "cardio-z.pem"), certs.EncodeCertPEM(theirCA.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEWAY_DIRECT_DOMAIN", "direct.clinic-a.example")
	t.Setenv("GATEWAY_DIRECT_CERTS", certDir)
	t.Setenv("GATEWAY_DNS", startCERTServer(t, map[string][]byte{
		"intake.direct.cardio-z.example.": good.Cert.Raw, "old.direct.cardio-z.example.": weak.Raw}))

	out, errOut, code := gw(t, dir, "certs", "check", "intake@direct.cardio-z.example")
	if code != 0 || !strings.Contains(out, "address-bound, RSA 2048") || !strings.Contains(out, "anchor") ||
		!strings.Contains(out, "verdict: usable") || !strings.Contains(out, "revocation: not checked") {
		t.Fatalf("good address: %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = gw(t, dir, "certs", "check", "old@direct.cardio-z.example")
	if code != exitRefused || !strings.Contains(out, `verdict: refused: certificate "old@direct.cardio-z.example": key too weak: RSA key of 1024 bits, at least 2048 required`) {
		t.Fatalf("weak key: %d\n%s\n%s", code, out, errOut)
	}
	if _, errOut, code := gw(t, dir, "certs", "check", "nobody@direct.cardio-z.example"); code != exitRefused || !strings.Contains(errOut, "no certificate published") {
		t.Fatalf("nothing published: %d %s", code, errOut)
	}
}

// weakCert issues a 1024-bit RSA address certificate from ca, as an old
// HISP might still publish.
func weakCert(t *testing.T, ca *certs.CA, addr string) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // the point of the test
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: addr},
		EmailAddresses: []string{addr}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(0, 1, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
