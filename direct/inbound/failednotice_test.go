package inbound_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// osslReports opens with openssl cms every message n received (decrypted
// with n's key, verified against the anchor of the gateway that sent it)
// and returns those that are MDNs, by disposition.
func osslReports(t *testing.T, n, from *node) map[mdn.Disposition]*mdn.Report {
	t.Helper()
	run := osslca.OpenSSL(t)
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key, err := certs.EncodeKeyPEM(n.identity.Key)
	if err != nil {
		t.Fatal(err)
	}
	write("n.pem", certs.EncodeCertPEM(n.identity.Cert))
	write("n-key.pem", key)
	write("from-ca.pem", certs.EncodeCertPEM(from.ca.Cert))
	out := map[mdn.Disposition]*mdn.Report{}
	for _, it := range n.inbox(t, "") {
		_, raw, err := n.svc.InboundRaw(t.Context(), it.ID)
		if err != nil {
			t.Fatal(err)
		}
		write("wire.eml", raw)
		write("signed.eml", run(t, "cms", "-decrypt", "-in", path("wire.eml"), "-recip", path("n.pem"), "-inkey", path("n-key.pem")))
		content := run(t, "cms", "-verify", "-in", path("signed.eml"), "-CAfile", path("from-ca.pem"))
		_, inner, _ := bytes.Cut(content, []byte("\r\n\r\n")) // the message/rfc822 wrapper's header
		rep, err := mdn.Parse(inner)
		if err != nil {
			continue // the referral itself
		}
		if out[rep.Disposition] != nil {
			t.Fatalf("two %s MDNs arrived", rep.Disposition)
		}
		out[rep.Disposition] = rep
	}
	return out
}

// TestFailedMDNForQuarantinedMessage: a message whose sender was
// authenticated but that we quarantine (here a decline from another user of
// the receiver's domain) and that asked for final delivery notification is
// answered with a failed MDN carrying X-DIRECT-FINAL-DESTINATION-DELIVERY,
// as the Delivery Notification guide asks, so the sender need not wait for
// its timeout. It is signed and encrypted like our other MDNs (read here by
// openssl cms), committed with the quarantine, and sent once: processing
// the message again after an operator's release sends nothing twice.
func TestFailedMDNForQuarantinedMessage(t *testing.T) {
	a, b := igPair(t, nil)
	r, d := sentDirect(t, a)
	other := "billing@" + domainB
	put(t, b, &gateway.Entry{ID: "billing-b", Kind: gateway.KindOrganization, Name: "Synthetic Billing",
		Direct: &gateway.DirectEndpoint{Address: other}}) // B receives the answers at other
	replyID := message.NewMessageID(domainB)
	sendSealed(t, b, other, a.identity.Cert, addrA, compose(t, message.Outbound{From: other, To: []string{addrA},
		Subject: "Re: Referral [ref:" + r.ID + "]", MessageID: replyID, InReplyTo: d.RemoteID, Date: b.clock.Now(),
		SummaryText: "Declined: not our patient.", DispositionNotificationTo: other, FinalDelivery: true}))
	a.processUntil(t, "quarantined", func() bool { return len(a.inbox(t, gateway.InboundQuarantined)) == 1 })
	q := a.inbox(t, gateway.InboundQuarantined)[0]
	if q.Reason != string(inbound.ReasonNotReceiver) {
		t.Fatalf("quarantined as %q", q.Reason)
	}
	notices := func() []*gateway.Notice {
		ns, err := a.svc.Notices(t.Context(), q.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	var got []string
	for _, n := range notices() {
		got = append(got, n.Disposition+" "+n.From+" -> "+n.To)
	}
	slices.Sort(got)
	if want := []string{"failed " + addrA + " -> " + other, "processed " + addrA + " -> " + other}; !slices.Equal(got, want) {
		t.Fatalf("notices %q, want %q", got, want)
	}
	// Both arrive at B (the referral is there already); openssl reads them.
	b.processUntil(t, "both MDNs at B", func() bool { return len(b.inbox(t, "")) == 3 })
	reps := osslReports(t, b, a)
	failed := reps[mdn.Failed]
	if failed == nil || reps[mdn.Processed] == nil {
		t.Fatalf("MDNs at B: %v", reps)
	}
	if failed.OriginalMessageID != replyID || !failed.FinalDelivery || failed.FinalRecipient != addrA ||
		!strings.Contains(failed.Reason, string(inbound.ReasonNotReceiver)) {
		t.Fatalf("failed MDN: %+v", failed)
	}
	if reps[mdn.Processed].FinalDelivery {
		t.Fatal("the processed MDN carries the final-delivery extension")
	}
	a.processUntil(t, "both notices sent", func() bool {
		for _, n := range notices() {
			if n.State != gateway.NoticeSent {
				return false
			}
		}
		return true
	})

	// An operator releases it; it is refused again and its notices, already
	// sent, are not queued again (A's sends are held, so a queued one would
	// show).
	hold := make(chan struct{})
	a.gate.hold.Store(&hold)
	t.Cleanup(func() { a.gate.hold.Store(nil); close(hold) })
	if _, err := a.svc.ReleaseInbound(t.Context(), admin, q.ID, "checking the sender"); err != nil {
		t.Fatal(err)
	}
	a.processUntil(t, "quarantined again", func() bool {
		m, err := a.svc.Inbound(t.Context(), q.ID)
		return err == nil && m.State == gateway.InboundQuarantined && m.Released
	})
	for _, n := range notices() {
		if n.State != gateway.NoticeSent || n.Wanted != 1 || n.Sends != 1 {
			t.Errorf("after the release: %s notice %s, wanted %d, sent %d; want sent once", n.Disposition, n.State, n.Wanted, n.Sends)
		}
	}
	if st, dl, _ := state(t, a, r); st != gateway.StatusRequested || dl.State != gateway.DeliverySent {
		t.Fatalf("referral %s, delivery %s after a stranger's decline", st, dl.State)
	}
}
