package inbound_test

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

// igPair is A referring to B, where B's gateway stores what it receives
// but never answers (its workers are stopped): the test answers for B with
// MDNs it builds, so each case of the Delivery Notification guide is
// played exactly.
func igPair(t *testing.T, party func(*gateway.Entry)) (a, b *node) {
	t.Helper()
	a, b = pair(t)
	seedA(t, a, b)
	seedB(t, b) // B's practice receives at addrB, or B refuses it at RCPT TO
	stopWorkers(t, b)
	if party != nil {
		e, err := a.svc.Entry(t.Context(), "cardio-b")
		if err != nil {
			t.Fatal(err)
		}
		party(e)
		put(t, a, e)
	}
	return a, b
}

// sentDirect creates a referral and waits until its Direct delivery is sent.
func sentDirect(t *testing.T, a *node) (*gateway.Referral, *gateway.Delivery) {
	t.Helper()
	r := create(t, a)
	var d *gateway.Delivery
	eventually(t, "direct delivery sent", func() bool {
		_, ds := a.referral(t, r.ID)
		if len(ds) == 1 && ds[0].State == gateway.DeliverySent {
			d = ds[0]
			return true
		}
		return false
	})
	return r, d
}

// mdnFrom sends A an MDN about the delivery, signed as from (an address of
// B's domain, signed with B's domain-bound certificate).
func mdnFrom(t *testing.T, a, b *node, from string, d *gateway.Delivery, disp mdn.Disposition) {
	t.Helper()
	raw, err := mdn.Build(mdn.Notification{From: from, To: addrA, MessageID: message.NewMessageID(domainB), Date: b.clock.Now(),
		ReportingUA: domainB + "; test", OriginalRecipient: addrB, FinalRecipient: addrB, OriginalMessageID: d.RemoteID,
		Disposition: disp, FinalDelivery: disp == mdn.Dispatched})
	if err != nil {
		t.Fatal(err)
	}
	sendSealed(t, b, from, a.identity.Cert, addrA, raw)
}

// applied waits until A applied n received reports.
func applied(t *testing.T, a *node, n int) {
	t.Helper()
	a.processUntil(t, "reports applied", func() bool {
		c := 0
		for _, m := range a.inbox(t, "") {
			if m.State != gateway.InboundReceived {
				c++
			}
		}
		return c >= n
	})
}

func state(t *testing.T, a *node, r *gateway.Referral) (gateway.Status, *gateway.Delivery, []*gateway.Delivery) {
	t.Helper()
	got, ds := a.referral(t, r.ID)
	return got.Status, ds[0], ds
}

// TestDeliveryNotificationCases plays the cases of the Direct Delivery
// Notification guide against A and checks the referral and delivery state
// each leaves.
func TestDeliveryNotificationCases(t *testing.T) {
	t.Run("processed only, from a receiver known to send only processed", func(t *testing.T) {
		a, b := igPair(t, func(e *gateway.Entry) { e.Direct.ProcessedOnly = true })
		r, d := sentDirect(t, a)
		mdnFrom(t, a, b, addrB, d, mdn.Processed)
		applied(t, a, 1)
		st, dl, _ := state(t, a, r)
		if st != gateway.StatusReceived || dl.State != gateway.DeliveryDelivered {
			t.Fatalf("referral %s, delivery %s; want received, delivered", st, dl.State)
		}
	})
	t.Run("processed then dispatched", func(t *testing.T) {
		a, b := igPair(t, nil)
		r, d := sentDirect(t, a)
		mdnFrom(t, a, b, addrB, d, mdn.Processed)
		applied(t, a, 1)
		st, dl, _ := state(t, a, r)
		if st != gateway.StatusRequested || dl.State != gateway.DeliverySent || !dl.Deadline.After(a.clock.Now().Add(23*time.Hour)) {
			t.Fatalf("after processed: referral %s, delivery %s, deadline %s; want requested, sent, dispatched deadline", st, dl.State, dl.Deadline)
		}
		mdnFrom(t, a, b, addrB, d, mdn.Dispatched)
		applied(t, a, 2)
		if st, dl, _ = state(t, a, r); st != gateway.StatusReceived || dl.State != gateway.DeliveryDelivered {
			t.Fatalf("after dispatched: referral %s, delivery %s", st, dl.State)
		}
	})
	t.Run("none within the party's deadline", func(t *testing.T) {
		a, _ := igPair(t, func(e *gateway.Entry) { e.Direct.ProcessedWithinMinutes = 30 })
		r, d := sentDirect(t, a)
		if want := d.Updated.Add(30 * time.Minute); !d.Deadline.Equal(want) {
			t.Fatalf("deadline %s, want the party's 30 minutes: %s", d.Deadline, want)
		}
		a.clock.Advance(31 * time.Minute)
		if err := a.svc.CheckReceiptDeadline(t.Context(), d.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "fallback", func() bool { _, _, ds := state(t, a, r); return len(ds) == 2 })
		_, dl, ds := state(t, a, r)
		if dl.State != gateway.DeliveryFailed || ds[1].Channel != gateway.ChannelFax {
			t.Fatalf("direct %s, next %s; want failed, then fax", dl.State, ds[1].Channel)
		}
	})
	t.Run("dispatched after the party's deadline", func(t *testing.T) {
		a, b := igPair(t, func(e *gateway.Entry) { e.Direct.DispatchedWithinMinutes = 60 })
		r, d := sentDirect(t, a)
		mdnFrom(t, a, b, addrB, d, mdn.Processed)
		applied(t, a, 1)
		if _, dl, _ := state(t, a, r); !dl.Deadline.Equal(a.clock.Now().Add(time.Hour)) {
			t.Fatalf("dispatched deadline %s, want the party's hour", dl.Deadline)
		}
		a.clock.Advance(61 * time.Minute)
		if err := a.svc.CheckReceiptDeadline(t.Context(), d.ID); err != nil {
			t.Fatal(err)
		}
		mdnFrom(t, a, b, addrB, d, mdn.Dispatched)
		applied(t, a, 2)
		_, dl, ds := state(t, a, r)
		if dl.State != gateway.DeliveryFailed || len(ds) != 2 || hasAction(a.actions(t, "clinic-a"), "delivery.receipt-late") == nil {
			t.Fatalf("direct %s with %d deliveries; want failed, fallen back, late receipt recorded", dl.State, len(ds))
		}
	})
	t.Run("late processed: the dispatched deadline counts from the send", func(t *testing.T) {
		// The guide measures the timeouts from the send of the original
		// message: a processed MDN that takes 50 minutes leaves the
		// dispatched one 23 hours 10 minutes, and a processed MDN
		// repeated a day later does not buy another day.
		a, b := igPair(t, nil)
		r, d := sentDirect(t, a)
		a.clock.Advance(50 * time.Minute)
		mdnFrom(t, a, b, addrB, d, mdn.Processed)
		applied(t, a, 1)
		want := d.SentAt.Add(24 * time.Hour)
		if st, dl, _ := state(t, a, r); st != gateway.StatusRequested || dl.State != gateway.DeliverySent || !dl.Deadline.Equal(want) {
			t.Fatalf("after processed: referral %s, delivery %s, deadline %s; want requested, sent, %s (sent + 24h)", st, dl.State, dl.Deadline, want)
		}
		a.clock.Advance(20 * time.Hour)
		mdnFrom(t, a, b, addrB, d, mdn.Processed) // a new Message-ID: not a copy
		applied(t, a, 2)
		if _, dl, _ := state(t, a, r); !dl.Deadline.Equal(want) {
			t.Fatalf("a repeated processed MDN moved the deadline to %s; want %s", dl.Deadline, want)
		}
		a.clock.Advance(4 * time.Hour)
		if err := a.svc.CheckReceiptDeadline(t.Context(), d.ID); err != nil {
			t.Fatal(err)
		}
		if _, dl, _ := state(t, a, r); dl.State != gateway.DeliveryFailed {
			t.Fatalf("24 hours after the send: delivery %s, want failed", dl.State)
		}
	})
	t.Run("duplicate MDN", func(t *testing.T) {
		a, b := igPair(t, nil)
		r, d := sentDirect(t, a)
		mdnFrom(t, a, b, addrB, d, mdn.Processed)
		mdnFrom(t, a, b, addrB, d, mdn.Dispatched)
		mdnFrom(t, a, b, addrB, d, mdn.Dispatched) // sent again with a new Message-ID
		applied(t, a, 3)
		st, dl, ds := state(t, a, r)
		if st != gateway.StatusReceived || dl.State != gateway.DeliveryDelivered || len(ds) != 1 {
			t.Fatalf("referral %s, delivery %s, %d deliveries", st, dl.State, len(ds))
		}
		if n := countAction(a.actions(t, "clinic-a"), "delivery.delivered"); n != 1 {
			t.Fatalf("delivered %d times", n)
		}
	})
	t.Run("MDN from the wrong address", func(t *testing.T) {
		a, b := igPair(t, nil)
		r, d := sentDirect(t, a)
		// Valid signature by B's domain certificate, but not the address
		// the referral went to.
		other := "billing@" + domainB
		if _, err := b.keys.ForAddress(other); err != nil {
			t.Fatal(err)
		}
		mdnFrom(t, a, b, other, d, mdn.Processed)
		a.processUntil(t, "quarantined", func() bool { return len(a.inbox(t, gateway.InboundQuarantined)) == 1 })
		q := a.inbox(t, gateway.InboundQuarantined)[0]
		st, dl, _ := state(t, a, r)
		if q.Reason != "sender-not-receiver" || st != gateway.StatusRequested || dl.State != gateway.DeliverySent || len(dl.Receipts) != 0 {
			t.Fatalf("quarantine %q; referral %s, delivery %s with %d receipts", q.Reason, st, dl.State, len(dl.Receipts))
		}
	})
}

// TestDispatchedOnlyWhenAvailable (issue case 3): B answers a message with
// "dispatched" only when it was made available — here, in the inbox of a
// practice B's directory knows. Mail B accepts that no practice receives
// (its own sending address, where receipts come back) is answered
// "processed" only, and kept for the gateway's operators; an address no
// party receives at is refused at RCPT TO (TestUnknownRecipientRefusedAtRCPT).
func TestDispatchedOnlyWhenAvailable(t *testing.T) {
	a, b := pair(t)
	msg := func(to string) []byte {
		return compose(t, message.Outbound{From: addrA, To: []string{to}, Subject: "Referral [ref:x5]",
			MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral.",
			DispositionNotificationTo: addrA, FinalDelivery: true})
	}
	dispositions := func(id string) []string {
		ns, err := b.svc.Notices(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range ns {
			out = append(out, n.Disposition)
		}
		slices.Sort(out)
		return out
	}
	gatewayBox := "referrals@" + domainB // B's default sending address: no practice's
	sendSealed(t, a, addrA, b.identity.Cert, gatewayBox, msg(gatewayBox))
	b.processUntil(t, "first processed", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 1 })
	first := b.inbox(t, gateway.InboundNew)[0]
	if got := dispositions(first.ID); !slices.Equal(got, []string{"processed"}) || !slices.Equal(first.Tenants, []string{inbound.UnknownTenant}) {
		t.Fatalf("the gateway's own address: notices %v, tenants %v", got, first.Tenants)
	}
	seedB(t, b)
	sendSealed(t, a, addrA, b.identity.Cert, addrB, msg(addrB))
	b.processUntil(t, "second processed", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 2 })
	second := b.inbox(t, gateway.InboundNew)[1]
	if got := dispositions(second.ID); !slices.Equal(got, []string{"dispatched", "processed"}) {
		t.Fatalf("practice inbox: notices %v", got)
	}
}

// TestProcessedAlwaysToSender (issue case 4): every trusted message gets a
// processed MDN, asked for or not, and it goes to the verified sender, not
// to a third address named in Disposition-Notification-To.
func TestProcessedAlwaysToSender(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	for i, dnt := range []string{"", "collector@direct.elsewhere.example"} {
		sendSealed(t, a, addrA, b.identity.Cert, addrB, compose(t, message.Outbound{From: addrA, To: []string{addrB},
			Subject: "Referral [ref:x6]", MessageID: message.NewMessageID(domainA), Date: a.clock.Now(),
			SummaryText: "Synthetic referral.", DispositionNotificationTo: dnt}))
		b.processUntil(t, "processed", func() bool { return len(b.inbox(t, gateway.InboundNew)) == i+1 })
		m := b.inbox(t, gateway.InboundNew)[i]
		ns, err := b.svc.Notices(t.Context(), m.ID)
		if err != nil || len(ns) != 1 || ns[0].Disposition != "processed" || ns[0].To != addrA {
			t.Fatalf("Disposition-Notification-To %q: %v %+v", dnt, err, ns)
		}
	}
	b.processUntil(t, "both MDNs sent", func() bool { return countAction(b.actions(t, "cardio-b"), "inbound.notice-sent") == 2 })
}

// TestReplyFromAnotherUserOfTheDomain (issue case 2): a user of the
// receiver's Direct domain, with a valid certificate of that domain, is
// not the receiver: his decline of a referral is quarantined and changes
// nothing.
func TestReplyFromAnotherUserOfTheDomain(t *testing.T) {
	a, b := igPair(t, nil)
	r, d := sentDirect(t, a)
	other := "billing@" + domainB
	sendSealed(t, b, other, a.identity.Cert, addrA, compose(t, message.Outbound{From: other, To: []string{addrA},
		Subject: "Re: Referral [ref:" + r.ID + "]", MessageID: message.NewMessageID(domainB), InReplyTo: d.RemoteID,
		Date: b.clock.Now(), SummaryText: "Declined: not our patient."}))
	a.processUntil(t, "quarantined", func() bool { return len(a.inbox(t, gateway.InboundQuarantined)) == 1 })
	if q := a.inbox(t, gateway.InboundQuarantined)[0]; q.Reason != string(inbound.ReasonNotReceiver) || q.ReferralID != r.ID {
		t.Fatalf("quarantined: %+v", q)
	}
	if st, dl, _ := state(t, a, r); st != gateway.StatusRequested || dl.State != gateway.DeliverySent {
		t.Fatalf("referral %s, delivery %s after a stranger's decline", st, dl.State)
	}
}

// TestNoMDNForAnUnreadableMDN: a report we cannot read (here a
// disposition-notification without a Disposition we can parse) is still a
// report: RFC 8098 forbids answering an MDN with an MDN, so it is
// quarantined as malformed and not answered, not taken for mail.
func TestNoMDNForAnUnreadableMDN(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	for i, body := range []string{
		"Reporting-UA: " + domainA + "; test\r\nFinal-Recipient: rfc822;" + addrA + "\r\nOriginal-Message-ID: <x@" + domainB + ">\r\nDisposition: processed\r\n",
		"\r\n",
	} {
		raw := "From: " + addrA + "\r\nTo: " + addrB + "\r\nSubject: Disposition notification\r\nMessage-ID: <" + message.NewMessageID(domainA) + ">\r\n" +
			"Date: " + a.clock.Now().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/report; report-type=disposition-notification; boundary=r\r\n\r\n" +
			"--r\r\nContent-Type: text/plain\r\n\r\nSynthetic notification.\r\n" +
			"--r\r\nContent-Type: message/disposition-notification\r\n\r\n" + body + "--r--\r\n"
		sendSealed(t, a, addrA, b.identity.Cert, addrB, []byte(raw))
		b.processUntil(t, "processed", func() bool {
			n := 0
			for _, m := range b.inbox(t, "") {
				if m.State != gateway.InboundReceived {
					n++
				}
			}
			return n == i+1
		})
		m := b.inbox(t, "")[i]
		if m.State != gateway.InboundQuarantined || m.Reason != string(inbound.ReasonMalformed) {
			t.Errorf("unreadable report %d: state %s, reason %q", i, m.State, m.Reason)
		}
		if ns, err := b.svc.Notices(t.Context(), m.ID); err != nil || len(ns) != 0 {
			t.Errorf("unreadable report %d answered: %v %+v", i, err, ns)
		}
	}
}

// TestMDNForASigningOnlyCertificate: a sender that signs with a
// signing-only certificate (keyUsage digitalSignature, no keyEncipherment)
// and publishes another for encryption, as split-certificate HISPs do, is
// still answered: the processed MDN is encrypted for the certificate
// discovery finds for its address, as for any message we send.
func TestMDNForASigningOnlyCertificate(t *testing.T) {
	var discovered atomic.Int32
	a, b := pairWith(t, func(a, b *node) {
		b.discover = func(_ context.Context, addr string) ([]*x509.Certificate, error) {
			if !strings.EqualFold(addr, addrA) {
				return nil, certs.ErrNotDiscovered
			}
			discovered.Add(1)
			return []*x509.Certificate{a.identity.Cert}, nil
		}
	})
	seedB(t, b)
	signOnly, err := a.ca.IssueDomain(domainA, certs.WithKeyUsage(x509.KeyUsageDigitalSignature))
	if err != nil {
		t.Fatal(err)
	}
	plain := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Referral [ref:s1]",
		MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral.",
		DispositionNotificationTo: addrA})
	signed, err := smime.Sign(smime.Wrap(plain, nil), signOnly.Cert, signOnly.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, a, addrA, addrB, envelope(t, plain, signed, b.identity.Cert))
	b.processUntil(t, "processed", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 1 })
	it := b.inbox(t, gateway.InboundNew)[0]
	if e := hasAction(b.actions(t, "cardio-b"), "direct.mdn-skipped"); e != nil {
		t.Fatalf("MDN skipped: %v", e.Detail)
	}
	ns, err := b.svc.Notices(t.Context(), it.ID)
	if err != nil || len(ns) != 1 || ns[0].Disposition != "processed" || ns[0].To != addrA {
		t.Fatalf("notices: %v %+v", err, ns)
	}
	// A opens it with the key of the certificate discovery gave.
	a.processUntil(t, "the MDN at A", func() bool {
		for _, m := range a.inbox(t, "") {
			if m.State != gateway.InboundReceived {
				return true
			}
		}
		return false
	})
	if m := a.inbox(t, "")[0]; m.Kind != "report" || m.State == gateway.InboundQuarantined {
		t.Fatalf("the MDN at A: kind %s, state %s, %s", m.Kind, m.State, m.Error)
	}
	if discovered.Load() == 0 {
		t.Fatal("discovery was not asked")
	}
}

// TestMDNsForEachRecipient: a message to two of B's addresses (one a known
// practice's, the other B's own sending address, which no practice owns)
// is answered for each recipient, as RFC 8098 reports one Final-Recipient
// per MDN: processed for both, and dispatched, since final delivery was
// asked, only for the address a practice owns.
func TestMDNsForEachRecipient(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	other := "referrals@" + domainB
	plain := compose(t, message.Outbound{From: addrA, To: []string{addrB, other}, Subject: "Referral [ref:m2]",
		MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral.",
		DispositionNotificationTo: addrA, FinalDelivery: true})
	sendSealedToAll(t, a, addrA, b.identity.Cert, plain, addrB, other)
	b.processUntil(t, "processed", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 1 })
	ns, err := b.svc.Notices(t.Context(), b.inbox(t, gateway.InboundNew)[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range ns {
		got = append(got, n.From+" "+n.Disposition)
		if n.To != addrA {
			t.Errorf("notice to %s", n.To)
		}
	}
	slices.Sort(got)
	want := []string{addrB + " dispatched", addrB + " processed", other + " processed"}
	if !slices.Equal(got, want) {
		t.Fatalf("notices %q, want %q", got, want)
	}
}
