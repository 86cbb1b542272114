package inbound_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// mailFromA dials n's listener over TCP with STARTTLS and starts a
// transaction from A's address; the session closes when the test ends.
func mailFromA(t *testing.T, n *node) *smtp.Client {
	t.Helper()
	// Loopback, a test certificate made for this run.
	c, err := smtp.DialStartTLS(n.listener.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Mail(addrA, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// rcptReply returns n's reply to RCPT TO:<to>, nil for 250.
func rcptReply(t *testing.T, n *node, to string) *smtp.SMTPError {
	t.Helper()
	err := mailFromA(t, n).Rcpt(to, nil)
	var se *smtp.SMTPError
	if err != nil && !errors.As(err, &se) {
		t.Fatalf("RCPT TO:<%s>: %v", to, err)
	}
	return se
}

// TestUnknownRecipientRefusedAtRCPT: an address of our domain we hold a
// key for but that no party of the directory receives at is refused at
// RCPT TO with 550 5.1.1: a "processed" MDN would say we took
// responsibility for mail we can never deliver. The practice's address,
// the gateway's own sending address (where receipts come back) and the
// postmaster are accepted.
func TestUnknownRecipientRefusedAtRCPT(t *testing.T) {
	_, b := pair(t)
	if se := rcptReply(t, b, addrB); se == nil || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Fatalf("RCPT for an address no practice owns: %v, want 550 5.1.1", se)
	}
	seedB(t, b)
	for _, to := range []string{addrB, "INTAKE@" + domainB, "referrals@" + domainB, "postmaster@" + domainB} {
		if se := rcptReply(t, b, to); se != nil {
			t.Errorf("RCPT TO:<%s>: %d %v %s, want 250", to, se.Code, se.EnhancedCode, se.Message)
		}
	}
	for _, to := range []string{"nobody@" + domainB, "billing@" + domainB} {
		if se := rcptReply(t, b, to); se == nil || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
			t.Errorf("RCPT TO:<%s>: %v, want 550 5.1.1", to, se)
		}
	}
}

// TestFailedOnlyForTheUndeliverableRecipient: a message accepted for two
// of B's practices, one of which no longer receives at its address when B
// processes it, is answered per recipient: processed and dispatched for
// the practice that has it, and for the other a failed MDN alone (with
// X-DIRECT-FINAL-DESTINATION-DELIVERY, as final delivery was asked),
// signed by B and encrypted for A (read here by openssl cms).
func TestFailedOnlyForTheUndeliverableRecipient(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	seedB(t, b)
	derm := "derm@" + domainB
	put(t, b, &gateway.Entry{ID: "derm-b", Kind: gateway.KindOrganization, Name: "Synthetic Dermatology",
		Direct: &gateway.DirectEndpoint{Address: derm}})
	stopWorkers(t, b)
	plain := compose(t, message.Outbound{From: addrA, To: []string{addrB, derm}, Subject: "Referral [ref:m3]",
		MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral.",
		DispositionNotificationTo: addrA, FinalDelivery: true})
	sendSealedToAll(t, a, addrA, b.identity.Cert, plain, addrB, derm)
	// The dermatology practice moves to another address before B
	// processes the message.
	put(t, b, &gateway.Entry{ID: "derm-b", Kind: gateway.KindOrganization, Name: "Synthetic Dermatology",
		Direct: &gateway.DirectEndpoint{Address: "skin@" + domainB}})
	if err := b.store.StartWorkers(t.Context(), b.svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopWorkers(t, b) })
	b.processUntil(t, "processed", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 1 })
	ns, err := b.svc.Notices(t.Context(), b.inbox(t, gateway.InboundNew)[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range ns {
		got = append(got, n.From+" "+n.Disposition)
	}
	slices.Sort(got)
	want := []string{addrB + " dispatched", addrB + " processed", derm + " failed"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("notices %q, want %q", got, want)
	}
	a.processUntil(t, "three MDNs at A", func() bool {
		n := 0
		for _, m := range a.inbox(t, "") {
			if m.State != gateway.InboundReceived {
				n++
			}
		}
		return n == 3
	})
	reps := osslReports(t, a, b)
	var failed *mdn.Report
	for _, r := range reps {
		if r.Disposition == mdn.Failed {
			failed = r
		}
		if r.FinalRecipient == derm && r.Disposition != mdn.Failed {
			t.Errorf("%s MDN for %s", r.Disposition, derm)
		}
	}
	if failed == nil || failed.FinalRecipient != derm || !failed.FinalDelivery || failed.Reason == "" {
		t.Fatalf("failed MDN: %+v", failed)
	}
}

// TestRecipientAmongManyLookAlikes: the directory search for an address
// matches substrings, so "a@" is in every "…a@" of the domain; a practice
// whose address sorts after many look-alikes is still found, and its mail
// accepted at RCPT TO.
func TestRecipientAmongManyLookAlikes(t *testing.T) {
	_, b := pair(t)
	for i := range 30 {
		put(t, b, &gateway.Entry{ID: fmt.Sprintf("lookalike-%02d", i), Kind: gateway.KindOrganization, Name: "Synthetic Look-alike",
			Direct: &gateway.DirectEndpoint{Address: fmt.Sprintf("x%da@%s", i, domainB)}})
	}
	put(t, b, &gateway.Entry{ID: "zz-practice", Kind: gateway.KindOrganization, Name: "Synthetic Practice",
		Direct: &gateway.DirectEndpoint{Address: "a@" + domainB}})
	if se := rcptReply(t, b, "a@"+domainB); se != nil {
		t.Fatalf("RCPT for a practice's address: %d %v %s, want 250", se.Code, se.EnhancedCode, se.Message)
	}
}
