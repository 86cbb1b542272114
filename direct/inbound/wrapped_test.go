package inbound_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// osslSeal is a remote HISP made of openssl: it signs entity as A (detached,
// with the digest md) and encrypts it for B, and puts the outer routing
// header of plain in front, as the Applicability Statement's senders do.
func osslSeal(t *testing.T, a, b *node, plain, entity []byte, md string) []byte {
	t.Helper()
	run := osslca.OpenSSL(t)
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	key, err := certs.EncodeKeyPEM(a.identity.Key)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"a.pem": certs.EncodeCertPEM(a.identity.Cert), "a-key.pem": key, "b.pem": certs.EncodeCertPEM(b.identity.Cert), "entity.eml": entity,
	} {
		if err := os.WriteFile(path(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "cms", "-sign", "-md", md, "-in", path("entity.eml"), "-out", path("signed.eml"),
		"-signer", path("a.pem"), "-inkey", path("a-key.pem"))
	enc := run(t, "cms", "-encrypt", "-aes128", "-in", path("signed.eml"), path("b.pem"))
	hdr, _, _ := bytes.Cut(plain, []byte("\r\nMime-Version"))
	return append(append(append([]byte{}, hdr...), "\r\nMIME-Version: 1.0\r\n"...), enc...)
}

// wrap is RFC 5751 section 3.1 message wrapping, as Applicability Statement
// v1.3 senders (the Direct reference implementation among them) apply it
// to every message: the whole message, header and all, is the content of a
// message/rfc822 entity, and that entity is what is signed and encrypted.
func wrap(plain []byte) []byte {
	return append([]byte("Content-Type: message/rfc822\r\n\r\n"), plain...)
}

// TestWrappedMessageFromOpenSSL: a referral wrapped in message/rfc822,
// signed and encrypted by openssl, is accepted like an unwrapped one: its
// inner From is bound to the signer, it lands in the practice's inbox with
// its own subject and Message-ID, and it is answered with a processed MDN.
func TestWrappedMessageFromOpenSSL(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	id := message.NewMessageID(domainA)
	plain := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Referral [ref:w1]",
		MessageID: id, Date: a.clock.Now(), SummaryText: "Synthetic wrapped referral.", DispositionNotificationTo: addrA})
	sendRaw(t, a, addrA, addrB, osslSeal(t, a, b, plain, wrap(plain), "sha256"))
	b.processUntil(t, "processed", func() bool {
		return len(b.inbox(t, gateway.InboundNew))+len(b.inbox(t, gateway.InboundQuarantined)) == 1
	})
	if q := b.inbox(t, gateway.InboundQuarantined); len(q) != 0 {
		t.Fatalf("wrapped message quarantined: %s: %s", q[0].Reason, q[0].Error)
	}
	it := b.inbox(t, gateway.InboundNew)[0]
	if it.Kind != "message" || it.From != addrA || it.MessageID != id || it.Summary == nil || it.Summary.Subject != "Referral [ref:w1]" {
		t.Fatalf("inbox item: %+v %+v", it, it.Summary)
	}
	ns, err := b.svc.Notices(t.Context(), it.ID)
	if err != nil || len(ns) != 1 || ns[0].Disposition != "processed" || ns[0].To != addrA {
		t.Fatalf("notices: %v %+v", err, ns)
	}
}

// TestWrappedMDNFromOpenSSL: a processed MDN wrapped in message/rfc822 by
// the receiving HISP is recognised as a receipt (and not answered).
func TestWrappedMDNFromOpenSSL(t *testing.T) {
	a, b := igPair(t, func(e *gateway.Entry) { e.Direct.ProcessedOnly = true })
	r, d := sentDirect(t, a)
	raw, err := mdn.Build(mdn.Notification{From: addrB, To: addrA, MessageID: message.NewMessageID(domainB), Date: b.clock.Now(),
		ReportingUA: domainB + "; openssl", OriginalRecipient: addrB, FinalRecipient: addrB, OriginalMessageID: d.RemoteID,
		Disposition: mdn.Processed})
	if err != nil {
		t.Fatal(err)
	}
	// The MDN leaves from B: B signs, A decrypts (osslSeal's roles swapped).
	sendRaw(t, b, addrB, addrA, osslSeal(t, b, a, raw, wrap(raw), "sha256"))
	applied(t, a, 1)
	if q := a.inbox(t, gateway.InboundQuarantined); len(q) != 0 {
		t.Fatalf("wrapped MDN quarantined: %s: %s", q[0].Reason, q[0].Error)
	}
	if st, dl, _ := state(t, a, r); st != gateway.StatusReceived || dl.State != gateway.DeliveryDelivered {
		t.Fatalf("referral %s, delivery %s; want received, delivered", st, dl.State)
	}
	for _, m := range a.inbox(t, "") {
		if m.Kind != "report" {
			t.Errorf("wrapped MDN taken as %q", m.Kind)
		}
		if ns, err := a.svc.Notices(t.Context(), m.ID); err != nil || len(ns) != 0 {
			t.Errorf("wrapped MDN answered: %v %+v", err, ns)
		}
	}
}

// TestMDNsReadByOpenSSL reads the MDNs B's gateway sent for a referral, as
// they arrived at A over SMTP, with openssl cms: each decrypts with A's key
// and verifies against B's anchor (and not against A's), is wrapped in
// message/rfc822, and is a multipart/report of report-type
// disposition-notification with a human-readable part and a
// message/disposition-notification part carrying the RFC 8098 fields;
// only the dispatched one carries X-DIRECT-FINAL-DESTINATION-DELIVERY.
func TestMDNsReadByOpenSSL(t *testing.T) {
	run := osslca.OpenSSL(t)
	a, b := pair(t)
	seedA(t, a, b)
	seedB(t, b)
	r := create(t, a)
	a.processUntil(t, "both MDNs at A", func() bool {
		n := 0
		for _, it := range a.inbox(t, "") {
			if it.State != gateway.InboundReceived {
				n++
			}
		}
		return n == 2
	})
	_, ds := a.referral(t, r.ID)
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key, err := certs.EncodeKeyPEM(a.identity.Key)
	if err != nil {
		t.Fatal(err)
	}
	write("a.pem", certs.EncodeCertPEM(a.identity.Cert))
	write("a-key.pem", key)
	write("b-ca.pem", certs.EncodeCertPEM(b.ca.Cert))
	write("a-ca.pem", certs.EncodeCertPEM(a.ca.Cert))
	seen := map[string]bool{}
	for _, it := range a.inbox(t, "") {
		_, raw, err := a.svc.InboundRaw(t.Context(), it.ID)
		if err != nil {
			t.Fatal(err)
		}
		write("wire.eml", raw)
		write("signed.eml", run(t, "cms", "-decrypt", "-in", path("wire.eml"), "-recip", path("a.pem"), "-inkey", path("a-key.pem")))
		if out, err := exec.Command("openssl", "cms", "-verify", "-in", path("signed.eml"), "-CAfile", path("a-ca.pem")).Output(); err == nil {
			t.Errorf("B's MDN verified against A's anchor:\n%.200s", out)
		}
		content := run(t, "cms", "-verify", "-in", path("signed.eml"), "-CAfile", path("b-ca.pem"))
		whdr, mdnRaw, _ := bytes.Cut(content, []byte("\r\n\r\n"))
		if !bytes.Contains(whdr, []byte("Content-Type: message/rfc822")) {
			t.Fatalf("MDN not wrapped:\n%.300s", content)
		}
		hdr, body, _ := bytes.Cut(mdnRaw, []byte("\r\n\r\n"))
		unfolded := string(bytes.ReplaceAll(hdr, []byte("\r\n "), []byte(" ")))
		if !strings.Contains(unfolded, "Content-Type: multipart/report;") || !strings.Contains(unfolded, "report-type=disposition-notification") {
			t.Fatalf("MDN header: %s", unfolded)
		}
		if !bytes.Contains(body, []byte("Content-Type: text/plain")) || !bytes.Contains(body, []byte("Content-Type: message/disposition-notification")) {
			t.Fatalf("MDN parts:\n%s", body)
		}
		rep, err := mdn.Parse(mdnRaw)
		if err != nil {
			t.Fatal(err)
		}
		disp := string(rep.Disposition)
		seen[disp] = true
		for _, f := range []string{"Reporting-UA: ", "Original-Recipient: rfc822;" + addrB, "Final-Recipient: rfc822;" + addrB,
			"Original-Message-ID: <" + ds[0].RemoteID + ">", "Disposition: automatic-action/MDN-sent-automatically; " + disp + "\r\n"} {
			if !bytes.Contains(body, []byte(f)) {
				t.Errorf("%s MDN lacks %q", disp, f)
			}
		}
		if final := bytes.Contains(body, []byte("X-DIRECT-FINAL-DESTINATION-DELIVERY")); final != (disp == "dispatched") || rep.FinalDelivery != final {
			t.Errorf("%s MDN: final-delivery extension present %v", disp, final)
		}
	}
	if !seen["processed"] || !seen["dispatched"] {
		t.Fatalf("MDNs seen: %v", seen)
	}
}
