package inbound_test

import (
	"bytes"
	"crypto/x509"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

// TestEndToEnd sends a referral from gateway A to gateway B over SMTP with
// STARTTLS; B verifies it, keeps it in its inbox and answers with processed
// and dispatched MDNs, which A applies: the delivery is delivered and the
// referral received. B's reply "Accepted" then moves A's referral on.
func TestEndToEnd(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	seedB(t, b)
	r := create(t, a)

	var msgID string
	eventually(t, "A's delivery sent", func() bool {
		_, ds := a.referral(t, r.ID)
		if len(ds) == 1 && ds[0].State == gateway.DeliverySent {
			msgID = ds[0].RemoteID
			return true
		}
		return false
	})
	_, ds := a.referral(t, r.ID)
	if want := ds[0].ID + "@" + domainA; msgID != want {
		t.Fatalf("remote id %q, want %q (derived from the delivery id)", msgID, want)
	}

	// B: decrypt, verify, keep in the inbox, answer with two MDNs.
	b.processUntil(t, "B's inbox", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 1 })
	it := b.inbox(t, gateway.InboundNew)[0]
	if it.Kind != "message" || it.From != addrA || it.MessageID != msgID || !slices.Equal(it.Tenants, []string{"cardio-b"}) ||
		it.Summary == nil || it.Summary.Subject != "Referral [ref:"+r.ID+"]" || len(it.Summary.Attachments) != 2 ||
		it.Summary.Attachments[0].ContentType != "application/pdf" || it.Summary.Attachments[1].Name != "Note.txt" || it.ReferralID != "" {
		t.Fatalf("inbox item: %+v %+v", it, it.Summary)
	}
	_, kept, err := b.svc.InboundRaw(t.Context(), it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(kept, []byte("application/pkcs7-mime")) || bytes.Contains(kept, []byte("Testpatient")) {
		t.Fatal("stored copy is not the encrypted message as received")
	}
	if !bytes.Contains(kept, []byte("Subject: Referral [ref:"+r.ID+"]")) {
		t.Fatal("outer subject does not carry the referral token")
	}
	// What B decrypts is the referral A composed, Part 2 notice absent.
	in := openAs(t, b, kept, addrA)
	if in.MessageID != msgID || !in.FinalDelivery || in.DispositionNotificationTo != addrA ||
		!strings.Contains(in.Text, "Alex Testpatient") || strings.Contains(in.Text, "42 CFR part 2 prohibits") ||
		len(in.Attachments) != 2 || in.Attachments[0].Filename != "ECG-report.pdf" ||
		in.Attachments[1].Filename != "Note.txt" || !strings.Contains(string(in.Attachments[1].Content), "Sinus rhythm") {
		t.Fatalf("decrypted referral: %+v", in)
	}
	b.processUntil(t, "B's MDNs sent", func() bool { return countAction(b.actions(t, "cardio-b"), "inbound.notice-sent") == 2 })
	if hasAction(b.actions(t, "cardio-b"), "direct.inbound-stored") == nil {
		t.Error("B's trail lacks direct.inbound-stored")
	}
	ns, err := b.svc.Notices(t.Context(), it.ID)
	if err != nil || len(ns) != 2 || ns[0].Disposition == ns[1].Disposition || ns[0].To != addrA || ns[1].To != addrA {
		t.Fatalf("B's notices: %v %+v", err, ns)
	}

	// A: the MDNs deliver the delivery and the referral is received.
	a.processUntil(t, "A's delivery delivered", func() bool {
		got, ds := a.referral(t, r.ID)
		return got.Status == gateway.StatusReceived && ds[0].State == gateway.DeliveryDelivered
	})
	_, ds = a.referral(t, r.ID)
	var kinds []gateway.ReceiptKind
	for _, rc := range ds[0].Receipts {
		kinds = append(kinds, rc.Kind)
	}
	if !slices.Contains(kinds, gateway.ReceiptDispatched) {
		t.Fatalf("receipts: %v", kinds)
	}
	aTrail := a.actions(t, "clinic-a")
	for _, want := range []string{"delivery.sent", "direct.receipt", "delivery.delivered", "referral.received"} {
		if hasAction(aTrail, want) == nil {
			t.Errorf("A's trail lacks %s", want)
		}
	}
	// The two MDNs may be applied in either order: wait for both.
	a.processUntil(t, "both MDNs applied at A", func() bool {
		n := 0
		for _, it := range a.inbox(t, "") {
			if it.State != gateway.InboundReceived {
				n++
			}
		}
		return n == 2
	})
	for _, it := range a.inbox(t, "") {
		if it.Kind != "report" || it.State != gateway.InboundMatched || it.DeliveryID != ds[0].ID {
			t.Errorf("A's received MDN: %+v", it)
		}
	}

	// B's staff reply "Accepted" through B's gateway, which tracks the
	// reply so A's MDN for it matches.
	replyID, err := b.proc.Reply(t.Context(), gateway.Actor{ID: "user:nurse", OrgID: "cardio-b"}, it.ID, addrB,
		"Accepted.\nWe will call the patient.")
	if err != nil {
		t.Fatal(err)
	}
	a.processUntil(t, "referral accepted", func() bool {
		got, _ := a.referral(t, r.ID)
		return got.Status == gateway.StatusAccepted
	})
	got, _ := a.referral(t, r.ID)
	last := got.History[len(got.History)-1]
	if last.Actor != "direct:"+addrB || last.To != gateway.StatusAccepted {
		t.Fatalf("last transition: %+v", last)
	}
	if e := hasAction(a.actions(t, "clinic-a"), "direct.reply"); e == nil || e.Detail["applied"] != "accepted" {
		t.Fatalf("reply audit: %+v", e)
	}
	// A answers the reply with processed only (no final delivery asked),
	// and B matches that MDN to its reply.
	b.processUntil(t, "A's processed MDN for the reply at B", func() bool {
		e := hasAction(b.actions(t, "cardio-b"), "direct.reply-receipt")
		return e != nil && e.Detail["reply"] == replyID
	})
	if n := countAction(b.actions(t, "cardio-b"), "direct.report-unmatched"); n != 0 {
		t.Fatalf("B could not match %d MDN(s)", n)
	}
}

// TestReplyFromStrangerRefused checks that a reply naming one of our referrals
// but signed by another party is refused, quarantined and audited.
func TestReplyFromStrangerRefused(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	seedB(t, b)
	// Cardio-b's directory entry names another domain: B is a stranger to it.
	e, err := a.svc.Entry(t.Context(), "cardio-b")
	if err != nil {
		t.Fatal(err)
	}
	r := create(t, a)
	eventually(t, "sent", func() bool {
		_, ds := a.referral(t, r.ID)
		return len(ds) == 1 && ds[0].State == gateway.DeliverySent
	})
	e.Direct.Address = "intake@direct.other-cardiology.example"
	put(t, a, e)
	reply := compose(t, message.Outbound{From: addrB, To: []string{addrA}, Subject: "Re: Referral [ref:" + r.ID + "]",
		MessageID: message.NewMessageID(domainB), Date: b.clock.Now(), SummaryText: "Declined: not our patient."})
	sendSealed(t, b, addrB, a.identity.Cert, addrA, reply)
	// B's gateway answers the referral with a processed MDN from the same
	// address, a stranger's now too (quarantined), or matched when it came
	// before the directory changed. It may be processed before, with or
	// after the reply, so the reply is found by its kind, not as the only
	// message quarantined.
	var q *gateway.InboundMessage
	a.processUntil(t, "the reply quarantined", func() bool {
		for _, m := range a.inbox(t, gateway.InboundQuarantined) {
			if m.Kind == "reply" {
				q = m
				return true
			}
		}
		return false
	})
	if q.Reason != string(inbound.ReasonNotReceiver) || q.ReferralID != r.ID {
		t.Fatalf("quarantine item: %+v", q)
	}
	for _, m := range a.inbox(t, gateway.InboundQuarantined) {
		if m.From != addrB || m.Reason != string(inbound.ReasonNotReceiver) {
			t.Errorf("quarantined besides the reply: %s from %s, %s", m.Kind, m.From, m.Reason)
		}
	}
	if got, _ := a.referral(t, r.ID); got.Status != gateway.StatusRequested {
		t.Fatalf("status changed by a stranger: %s", got.Status)
	}
	if e := hasAction(a.actions(t, "clinic-a"), "direct.inbound-refused"); e == nil || e.Detail["reason"] != string(inbound.ReasonNotReceiver) {
		t.Fatalf("refusal audit: %+v", e)
	}
}

// TestFailedMDNFallsBack: a failed MDN fails the Direct delivery and the core
// falls back to fax.
func TestFailedMDNFallsBack(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	seedB(t, b)
	r := create(t, a)
	var msgID string
	eventually(t, "sent", func() bool {
		_, ds := a.referral(t, r.ID)
		if len(ds) == 1 && ds[0].State == gateway.DeliverySent {
			msgID = ds[0].RemoteID
			return true
		}
		return false
	})
	failed, err := mdn.Build(mdn.Notification{From: addrB, To: addrA, MessageID: message.NewMessageID(domainB),
		Date: b.clock.Now(), ReportingUA: domainB + "; test", FinalRecipient: addrB, OriginalMessageID: msgID,
		Disposition: mdn.Failed, Failure: "recipient mailbox unavailable"})
	if err != nil {
		t.Fatal(err)
	}
	sendSealed(t, b, addrB, a.identity.Cert, addrA, failed)
	a.processUntil(t, "fallback to fax delivered", func() bool {
		got, ds := a.referral(t, r.ID)
		return got.Status == gateway.StatusReceived && len(ds) == 2 && ds[1].State == gateway.DeliveryDelivered
	})
	_, ds := a.referral(t, r.ID)
	if ds[0].Channel != gateway.ChannelDirect || ds[0].State != gateway.DeliveryFailed || !strings.Contains(ds[0].LastError, "mailbox unavailable") ||
		ds[1].Channel != gateway.ChannelFax {
		t.Fatalf("deliveries: %+v / %+v", ds[0], ds[1])
	}
	if hasAction(a.actions(t, "clinic-a"), "referral.fallback") == nil {
		t.Error("no fallback in the trail")
	}
}

// TestRefusals sends messages B must refuse; each is quarantined with its
// reason and audited, none is answered.
func TestRefusals(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	plain := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Referral [ref:x1]",
		MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral text.",
		DispositionNotificationTo: addrA})
	signed, err := smime.Sign(plain, a.identity.Cert, a.identity.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(signed, []byte("Synthetic referral text."), []byte("Synthetic referral TEXT."), 1)
	if bytes.Equal(tampered, signed) {
		t.Fatal("tampering did not change the signed entity")
	}
	stranger, err := b.ca.IssueAddress("someone@direct.clinic-a.example") // B's CA: trusted, but not A's address
	if err != nil {
		t.Fatal(err)
	}
	spoofed, err := smime.Sign(plain, stranger.Cert, stranger.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	signAs := func(id *certs.Identity) []byte {
		t.Helper()
		s, err := smime.Sign(plain, id.Cert, id.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	revoked, err := a.ca.IssueAddress(addrA)
	if err != nil {
		t.Fatal(err)
	}
	a.revoked = append(a.revoked, revoked.Cert)
	now := a.clock.Now()
	expired, err := a.ca.IssueAddress(addrA, certs.ValidBetween(now.AddDate(0, -2, 0), now.AddDate(0, -1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	rogueCA, err := certs.NewDevCA(domainA, now)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := rogueCA.IssueDomain(domainA)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		entity     []byte            // already signed (or not)
		encryptFor *x509.Certificate // nil: B's certificate
		want       inbound.Reason
	}{
		{"tampered", tampered, nil, inbound.ReasonBadSignature},
		{"unsigned", plain, nil, inbound.ReasonUnsigned},
		{"address mismatch", spoofed, nil, inbound.ReasonAddressMismatch},
		{"signed with the receiver's own domain certificate", signAs(b.identity), nil, inbound.ReasonAddressMismatch},
		{"revoked signer", signAs(revoked), nil, inbound.ReasonCertRevoked},
		{"expired signer", signAs(expired), nil, inbound.ReasonCertExpired},
		{"untrusted anchor", signAs(rogue), nil, inbound.ReasonUntrustedAnchor},
		{"wrong recipient", signed, a.identity.Cert, inbound.ReasonWrongRecipient},
	}
	var want []inbound.Reason
	for _, tc := range cases {
		cert := tc.encryptFor
		if cert == nil {
			cert = b.identity.Cert
		}
		sendRaw(t, a, addrA, addrB, envelope(t, plain, tc.entity, cert))
		want = append(want, tc.want)
	}
	// Not encrypted at all.
	sendRaw(t, a, addrA, addrB, signed)
	want = append(want, inbound.ReasonNotEncrypted)
	eventuallyOr(t, "all quarantined", func() bool { return len(b.inbox(t, gateway.InboundQuarantined)) == len(want) }, func() {
		for _, it := range b.inbox(t, "") {
			t.Logf("%s %s %s", it.State, it.Reason, it.Error)
		}
	})
	var got []inbound.Reason
	for _, it := range b.inbox(t, gateway.InboundQuarantined) {
		got = append(got, inbound.Reason(it.Reason))
		if !slices.Equal(it.Tenants, []string{"cardio-b"}) || it.Error == "" {
			t.Errorf("quarantine item: %+v", it)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("quarantine reasons %v, want %v", got, want)
	}
	// No sender of these was authenticated: the refusals are audited in the
	// gateway's own chain, aggregated per source and reason, never in the
	// practice's trail.
	trail := b.actions(t, "cardio-b")
	if n := countAction(trail, "direct.inbound-refused"); n != 0 {
		t.Errorf("%d unauthenticated refusals written into the practice's trail", n)
	}
	if err := b.svc.FlushEdges(t.Context()); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, en := range b.actions(t, gateway.SystemTenant) {
		if en.Action == "direct.inbound-refused" {
			n, err := strconv.Atoi(en.Detail["count"])
			if err != nil || en.Detail["reason"] == "" {
				t.Errorf("edge entry without count or reason: %+v", en.Detail)
			}
			refused += n
		}
	}
	if refused != len(want) {
		t.Errorf("%d refusals audited in the gateway chain, want %d", refused, len(want))
	}
	if hasAction(trail, "inbound.notice-sent") != nil {
		t.Error("an MDN answered a refused message")
	}
	if items := b.inbox(t, gateway.InboundNew); len(items) != 0 {
		t.Errorf("refused messages in the inbox: %+v", items)
	}
}

// TestRelayRefused: a send to a domain B does not serve is refused by B's
// smtpin, and the channel reports it as permanent.
func TestRelayRefused(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	other, err := b.ca.IssueDomain("direct.elsewhere.example")
	if err != nil {
		t.Fatal(err)
	}
	receiver := &gateway.Entry{ID: "elsewhere", Kind: gateway.KindOrganization, Name: "Synthetic Elsewhere",
		Direct: &gateway.DirectEndpoint{Address: "intake@direct.elsewhere.example", CertPEM: string(certs.EncodeCertPEM(other.Cert))}}
	out := &gateway.Outbound{Referral: &gateway.Referral{ID: "ref-relay", Patient: gateway.Patient{ID: "MRN-9"}},
		Delivery: &gateway.Delivery{ID: "del-relay"}, Receiver: receiver}
	_, err = a.ch.Send(t.Context(), out)
	if err == nil || !gateway.IsPermanent(err) || !strings.Contains(err.Error(), "550") {
		t.Fatalf("relay send: %v (permanent %v)", err, gateway.IsPermanent(err))
	}
}

func countAction(entries []audit.Entry, action string) int {
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

// openAs decrypts and verifies a kept message with n's keys.
func openAs(t *testing.T, n *node, raw []byte, sender string) *message.Inbound {
	t.Helper()
	inner, err := smime.Decrypt(raw, n.keys)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(n.ca.Cert)
	for _, c := range n.ch.Config().Trust.Anchors() {
		pool.AddCert(c)
	}
	v, err := smime.Verify(t.Context(), inner, smime.VerifyOptions{Sender: sender, TrustAnchors: pool, SkipRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	msg, wrapped, err := smime.Unwrap(v.Entity)
	if err != nil || !wrapped {
		t.Fatalf("signed entity is not a message/rfc822 wrapped message: %v", err)
	}
	in, err := message.Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func compose(t *testing.T, m message.Outbound) []byte {
	t.Helper()
	raw, err := message.Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sendSealed signs entity as from with n's keys, encrypts it for to's
// certificate and sends it with n's transport.
func sendSealed(t *testing.T, n *node, from string, cert *x509.Certificate, to string, entity []byte) {
	t.Helper()
	wire, err := n.ch.Seal(from, cert, entity)
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, n, from, to, wire)
}

// sendSealedToAll seals entity once for cert and sends it to every
// address of to in one transaction.
func sendSealedToAll(t *testing.T, n *node, from string, cert *x509.Certificate, entity []byte, to ...string) {
	t.Helper()
	wire, err := n.ch.Seal(from, cert, entity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ch.Config().Transport.Send(t.Context(), from, to, wire); err != nil {
		t.Fatal(err)
	}
}

func sendRaw(t *testing.T, n *node, from, to string, wire []byte) {
	t.Helper()
	if _, err := n.ch.Config().Transport.Send(t.Context(), from, []string{to}, wire); err != nil {
		t.Fatal(err)
	}
}

// envelope encrypts an (un)signed entity for cert and adds the outer header
// of plain, as a sending HISP would.
var outerMsgID = regexp.MustCompile(`(?i)Message-Id: <[^>]*>`)

func envelope(t *testing.T, plain, entity []byte, cert *x509.Certificate) []byte {
	t.Helper()
	enc, err := smime.Encrypt(entity, []*x509.Certificate{cert}, smime.AES256CBC)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _, _ := bytes.Cut(plain, []byte("\r\nMime-Version"))
	// Each test message is a message of its own: a fresh outer Message-ID.
	hdr = outerMsgID.ReplaceAll(hdr, []byte("Message-Id: <"+message.NewMessageID("direct.test.example")+">"))
	out := append([]byte{}, hdr...)
	return append(append(out, "\r\nMIME-Version: 1.0\r\n"...), enc...)
}

// TestEnvelopeMustMatchSignedHeader: Applicability Statement v1.3 makes the
// signed header authoritative over the SMTP envelope: every RCPT TO must be
// among the wrapped message's To or Cc, and MAIL FROM must be its From (or
// Sender). A signed message for one address of B's domain, replayed to
// another (B's domain key opens both), and one whose MAIL FROM is another
// address of the signer's domain are quarantined; the genuine one is not.
func TestEnvelopeMustMatchSignedHeader(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	put(t, b, &gateway.Entry{ID: "billing-b", Kind: gateway.KindOrganization, Name: "Synthetic Billing",
		Direct: &gateway.DirectEndpoint{Address: "billing@" + domainB}}) // a mailbox B accepts at RCPT TO
	msg := func(cc ...string) []byte {
		return compose(t, message.Outbound{From: addrA, To: append([]string{addrB}, cc...), Subject: "Referral [ref:x9]",
			MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral text."})
	}
	billingB, billingA := "billing@"+domainB, "billing@"+domainA
	seal := func(entity []byte) []byte {
		t.Helper()
		wire, err := a.ch.Seal(addrA, b.identity.Cert, entity)
		if err != nil {
			t.Fatal(err)
		}
		return wire
	}
	sendRaw(t, a, addrA, billingB, seal(msg()))                          // replayed to another recipient
	sendRaw(t, a, billingA, addrB, seal(msg()))                          // MAIL FROM another address of A's domain
	sendRaw(t, a, addrA, addrB, seal(msg()))                             // genuine
	sendRaw(t, a, strings.ToUpper(addrA), billingB, seal(msg(billingB))) // To and To: both named, case aside
	b.processUntil(t, "all processed", func() bool {
		n := 0
		for _, m := range b.inbox(t, "") {
			if m.State != gateway.InboundReceived {
				n++
			}
		}
		return n == 4
	})
	var quarantined, accepted int
	for _, m := range b.inbox(t, "") {
		switch m.State {
		case gateway.InboundQuarantined:
			quarantined++
			if m.Reason != string(inbound.ReasonRoutingMismatch) {
				t.Errorf("quarantined as %s: %s", m.Reason, m.Error)
			}
		case gateway.InboundNew:
			accepted++
		}
	}
	if quarantined != 2 || accepted != 2 {
		t.Fatalf("%d quarantined, %d accepted; want 2 and 2", quarantined, accepted)
	}
}
