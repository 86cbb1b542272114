package mdn_test

import (
	"testing"

	"github.com/referralgw/gateway/direct/mdn"
)

// TestReportAbout: a report is narrowed to the blocks that name an
// accepted recipient in Final-Recipient or Original-Recipient; its Reason
// and Action are then those of our recipient, not of the first block.
func TestReportAbout(t *testing.T) {
	raw := []byte("From: postmaster@b.example\r\nTo: a@a.example\r\nMessage-ID: <r1@b.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.b.example\r\n\r\n" +
		"Final-Recipient: rfc822; other@c.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 other\r\n\r\n" +
		"Original-Recipient: rfc822;ours@b.example\r\nFinal-Recipient: rfc822; box7@b.example\r\nAction: delayed\r\nStatus: 4.4.7\r\n" +
		"Diagnostic-Code: smtp; 451 4.4.7 ours\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m1@a.example>\r\n--b--\r\n")
	rep, err := mdn.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() || rep.Action() != mdn.ActionFailed || rep.Recipients[1].OriginalRecipient != "ours@b.example" {
		t.Fatalf("whole report: failed %v, action %q, recipients %+v", rep.Failed(), rep.Action(), rep.Recipients)
	}
	ours, ok := rep.About(func(a string) bool { return a == "ours@b.example" })
	if !ok || ours.Failed() || ours.Action() != mdn.ActionDelayed || len(ours.Recipients) != 1 || ours.Reason != "smtp; 451 4.4.7 ours" ||
		ours.OriginalMessageID != "m1@a.example" {
		t.Fatalf("about ours: ok %v, %+v", ok, ours)
	}
	if len(rep.Recipients) != 2 {
		t.Fatal("About changed the report it narrows")
	}
	if _, ok := rep.About(func(a string) bool { return a == "nobody@b.example" }); ok {
		t.Fatal("a report about other recipients is about nobody@")
	}
	m := &mdn.Report{Kind: mdn.KindMDN, FinalRecipient: "x@b.example", Disposition: mdn.Processed}
	if _, ok := m.About(func(a string) bool { return a == "ours@b.example" }); ok {
		t.Fatal("an MDN for x@ taken as about ours@")
	}
	if _, ok := (&mdn.Report{Kind: mdn.KindMDN}).About(func(string) bool { return false }); !ok {
		t.Fatal("an MDN that names no recipient is about the one it came from")
	}
}

// TestFinalDeliveryFieldInHeader: the X-DIRECT-FINAL-DESTINATION-DELIVERY
// field is read among the disposition-notification fields and, as some
// HISPs write it, in the MDN's own header; a dispatched MDN with neither
// does not carry it.
func TestFinalDeliveryFieldInHeader(t *testing.T) {
	mdnWith := func(header, field string) []byte {
		return []byte("From: b@b.example\r\nTo: a@a.example\r\nMessage-ID: <n1@b.example>\r\n" + header + "MIME-Version: 1.0\r\n" +
			"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: message/disposition-notification\r\n\r\nReporting-UA: b.example; t\r\n" +
			"Final-Recipient: rfc822;b@b.example\r\nOriginal-Message-ID: <m1@a.example>\r\n" +
			"Disposition: automatic-action/MDN-sent-automatically; dispatched\r\n" + field + "--b--\r\n")
	}
	for _, c := range []struct {
		name, header, field string
		want                bool
	}{
		{"in the fields", "", mdn.FinalDeliveryField + ":\r\n", true},
		{"in the header", mdn.FinalDeliveryField + ": \r\n", "", true},
		{"nowhere", "", "", false},
	} {
		rep, err := mdn.Parse(mdnWith(c.header, c.field))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rep.FinalDelivery != c.want || rep.Disposition != mdn.Dispatched {
			t.Errorf("%s: final delivery %v, disposition %s; want %v", c.name, rep.FinalDelivery, rep.Disposition, c.want)
		}
	}
}
