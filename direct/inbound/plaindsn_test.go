package inbound_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// plainReport is a report as a remote MTA writes it: plain MIME, no
// S/MIME. reportType is delivery-status or disposition-notification.
func plainReport(reportType, fields, originalID string) []byte {
	part := "message/delivery-status"
	if reportType == "disposition-notification" {
		part = "message/disposition-notification"
	}
	return []byte("From: MAILER-DAEMON@mx." + domainB + "\r\nTo: " + addrA + "\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <" + message.NewMessageID("mx."+domainB) + ">\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=" + reportType + "; boundary=\"dsn-b\"\r\n\r\n" +
		"--dsn-b\r\nContent-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n" +
		"--dsn-b\r\nContent-Type: " + part + "\r\n\r\n" + fields + "\r\n" +
		"--dsn-b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: " + addrA + "\r\nTo: " + addrB + "\r\n" +
		"Message-ID: <" + originalID + ">\r\n--dsn-b--\r\n")
}

// dsnFields are the delivery-status fields of a report on one recipient.
func dsnFields(rcpt, action, status string) string {
	return fmt.Sprintf("Reporting-MTA: dns; mx.%s\r\n\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n"+
		"Diagnostic-Code: smtp; %s mailbox unavailable\r\n", domainB, rcpt, action, status, strings.ReplaceAll(status, ".", ""))
}

// sendPlain hands A a plain report over SMTP from B's side, with the
// envelope sender mailFrom ("" for the null reverse-path).
func sendPlain(t *testing.T, a, b *node, mailFrom string, raw []byte) {
	t.Helper()
	if _, err := b.ch.Config().Transport.Send(t.Context(), mailFrom, []string{addrA}, raw); err != nil {
		t.Fatal(err)
	}
}

// TestUnsignedFailureDSN: a plain DSN from the receiver's MTA that reports
// our message to the receiver failed is taken as an unauthenticated
// failure: the delivery fails and the referral falls back to fax.
func TestUnsignedFailureDSN(t *testing.T) {
	a, b := igPair(t, nil)
	r, d := sentDirect(t, a)
	sendPlain(t, a, b, "", plainReport("delivery-status", dsnFields(addrB, "failed", "5.2.2"), d.RemoteID))
	applied(t, a, 1)
	it := a.inbox(t, "")[0]
	if it.State != gateway.InboundMatched || it.Kind != "report" || it.DeliveryID != d.ID {
		t.Fatalf("the DSN at A: state %s, kind %s, delivery %q (%s %s)", it.State, it.Kind, it.DeliveryID, it.Reason, it.Error)
	}
	eventually(t, "fallback", func() bool { _, _, ds := state(t, a, r); return len(ds) == 2 })
	_, dl, ds := state(t, a, r)
	if dl.State != gateway.DeliveryFailed || ds[1].Channel != gateway.ChannelFax || len(dl.Receipts) != 1 ||
		!strings.HasPrefix(dl.Receipts[0].Detail, "unauthenticated dsn failed") {
		t.Fatalf("direct %s with receipts %+v, next %s; want failed by the DSN, then fax", dl.State, dl.Receipts, ds[1].Channel)
	}
	e := hasAction(a.actions(t, "clinic-a"), "direct.receipt")
	if e == nil || e.Detail["authenticated"] != "false" || e.Detail["delivery"] != d.ID {
		t.Fatalf("receipt audit: %+v", e)
	}
}

// TestUnsignedReportsRefused: nothing else in a plain report is taken. A
// DSN that claims success, that fails another address than the one our
// delivery went to, that names a message we did not send, that comes with
// a reverse-path, or a plain MDN, is quarantined as unverified-report and
// changes nothing; so is a failure DSN for a delivery the receiving HISP
// has acknowledged with a signed processed MDN.
func TestUnsignedReportsRefused(t *testing.T) {
	a, b := igPair(t, nil)
	r, d := sentDirect(t, a)
	forged := []struct {
		name     string
		mailFrom string
		raw      []byte
	}{
		{"success", "", plainReport("delivery-status", dsnFields(addrB, "delivered", "2.0.0"), d.RemoteID)},
		{"relayed", "", plainReport("delivery-status", dsnFields(addrB, "relayed", "2.0.0"), d.RemoteID)},
		{"failure of another address", "", plainReport("delivery-status", dsnFields("intake@direct.elsewhere.example", "failed", "5.1.1"), d.RemoteID)},
		{"failure of another user of the domain", "", plainReport("delivery-status", dsnFields("billing@"+domainB, "failed", "5.1.1"), d.RemoteID)},
		{"not our message", "", plainReport("delivery-status", dsnFields(addrB, "failed", "5.1.1"), "someone-else@"+domainA)},
		{"with a reverse-path", "postmaster@" + domainB, plainReport("delivery-status", dsnFields(addrB, "failed", "5.1.1"), d.RemoteID)},
		{"plain MDN", "", plainReport("disposition-notification", "Reporting-UA: "+domainB+"; test\r\nFinal-Recipient: rfc822;"+addrB+
			"\r\nOriginal-Message-ID: <"+d.RemoteID+">\r\nDisposition: automatic-action/MDN-sent-automatically; dispatched\r\n", d.RemoteID)},
	}
	for _, f := range forged {
		sendPlain(t, a, b, f.mailFrom, f.raw)
	}
	applied(t, a, len(forged))
	for i, it := range a.inbox(t, "") {
		if it.State != gateway.InboundQuarantined || it.Reason != string(inbound.ReasonUnverifiedReport) {
			t.Errorf("%s: state %s, reason %q (%s)", forged[i].name, it.State, it.Reason, it.Error)
		}
	}
	if st, dl, ds := state(t, a, r); st != gateway.StatusRequested || dl.State != gateway.DeliverySent || len(dl.Receipts) != 0 || len(ds) != 1 {
		t.Fatalf("after forged reports: referral %s, delivery %s with %d receipts, %d deliveries", st, dl.State, len(dl.Receipts), len(ds))
	}

	// The receiving HISP's signed word outranks an MTA's unsigned one.
	mdnFrom(t, a, b, addrB, d, mdn.Processed)
	applied(t, a, len(forged)+1)
	sendPlain(t, a, b, "", plainReport("delivery-status", dsnFields(addrB, "failed", "5.2.2"), d.RemoteID))
	applied(t, a, len(forged)+2)
	if it := a.inbox(t, "")[len(forged)+1]; it.State != gateway.InboundQuarantined || it.Reason != string(inbound.ReasonUnverifiedReport) {
		t.Fatalf("failure DSN after a signed processed MDN: state %s, reason %q", it.State, it.Reason)
	}
	if st, dl, _ := state(t, a, r); st != gateway.StatusRequested || dl.State != gateway.DeliverySent || len(dl.Receipts) != 1 {
		t.Fatalf("referral %s, delivery %s with %d receipts; want requested, sent with the processed one", st, dl.State, len(dl.Receipts))
	}
}
