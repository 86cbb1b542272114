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

// dsnBlock is one per-recipient block of a DSN (RFC 3464 section 2.3);
// original is its Original-Recipient, "" for none.
type dsnBlock struct{ final, original, action, status string }

// signedDSN is a DSN from B's side about originalID, From from, with one
// block per recipient; each block's Diagnostic-Code names its status.
func signedDSN(from, originalID string, blocks ...dsnBlock) []byte {
	fields := "Reporting-MTA: dns; mx." + domainB + "\r\n"
	for _, b := range blocks {
		fields += "\r\n"
		if b.original != "" {
			fields += "Original-Recipient: rfc822;" + b.original + "\r\n"
		}
		fields += fmt.Sprintf("Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\nDiagnostic-Code: smtp; status %s\r\n",
			b.final, b.action, b.status, b.status)
	}
	return []byte("From: " + from + "\r\nTo: " + addrA + "\r\n" +
		"Subject: Delivery Status Notification\r\nMessage-ID: <" + message.NewMessageID(domainB) + ">\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"dsn-s\"\r\n\r\n" +
		"--dsn-s\r\nContent-Type: text/plain\r\n\r\nDelivery report.\r\n" +
		"--dsn-s\r\nContent-Type: message/delivery-status\r\n\r\n" + fields + "\r\n" +
		"--dsn-s\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: " + addrA + "\r\nTo: " + addrB + "\r\n" +
		"Message-ID: <" + originalID + ">\r\n--dsn-s--\r\n")
}

// TestSignedDSNPerRecipient: a signed DSN from the receiving side reports
// on each recipient in its own block, and only the block that names the
// address our delivery went to (in Final-Recipient or Original-Recipient)
// counts for it: another recipient's failure does not fail it, our
// recipient's failure does (with our recipient's diagnostic, not
// another's), a delayed block is transient and no failure (RFC 3464), and
// a DSN that names none of the addresses we sent to changes nothing and is
// quarantined as recipient-not-sent, audited with ids only.
func TestSignedDSNPerRecipient(t *testing.T) {
	other := "intake@direct.elsewhere.example"
	cases := []struct {
		name   string
		from   string
		blocks []dsnBlock
		// want: the delivery's state, the inbound state, and for a failure
		// the diagnostic its receipt names.
		delivery gateway.DeliveryState
		inbound  gateway.InboundState
		detail   string
	}{
		{"ours delivered, another failed", addrB, []dsnBlock{{addrB, "", "delivered", "2.0.0"}, {other, "", "failed", "5.1.1"}},
			gateway.DeliverySent, gateway.InboundMatched, ""},
		{"another failed first, ours relayed", addrB, []dsnBlock{{other, other, "failed", "5.1.1"}, {addrB, addrB, "relayed", "2.0.0"}},
			gateway.DeliverySent, gateway.InboundMatched, ""},
		{"ours delayed", addrB, []dsnBlock{{addrB, "", "delayed", "4.4.7"}},
			gateway.DeliverySent, gateway.InboundMatched, ""},
		{"ours expanded", addrB, []dsnBlock{{addrB, "", "expanded", "2.0.0"}, {"list-member@" + domainB, addrB, "delayed", "4.2.1"}},
			gateway.DeliverySent, gateway.InboundMatched, ""},
		{"another failed only", addrB, []dsnBlock{{other, "", "failed", "5.1.1"}, {"billing@" + domainB, "", "failed", "5.2.2"}},
			gateway.DeliverySent, gateway.InboundQuarantined, ""},
		{"ours failed after another's", addrB, []dsnBlock{{other, "", "failed", "5.1.1"}, {addrB, "", "failed", "5.2.2"}},
			gateway.DeliveryFailed, gateway.InboundMatched, "status 5.2.2"},
		{"ours failed, named by Original-Recipient", addrB, []dsnBlock{{"mailbox7@" + domainB, addrB, "failed", "5.2.1"}},
			gateway.DeliveryFailed, gateway.InboundMatched, "status 5.2.1"},
		{"ours failed, from the receiving HISP's postmaster", "postmaster@" + domainB, []dsnBlock{{addrB, "", "failed", "5.3.0"}, {other, "", "delivered", "2.0.0"}},
			gateway.DeliveryFailed, gateway.InboundMatched, "status 5.3.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := igPair(t, nil)
			r, d := sentDirect(t, a)
			sendSealed(t, b, c.from, a.identity.Cert, addrA, signedDSN(c.from, d.RemoteID, c.blocks...))
			applied(t, a, 1)
			it := a.inbox(t, "")[0]
			if it.State != c.inbound || it.Kind != "report" {
				t.Fatalf("the DSN at A: state %s, kind %s, reason %q (%s); want %s", it.State, it.Kind, it.Reason, it.Error, c.inbound)
			}
			if c.delivery == gateway.DeliveryFailed {
				eventually(t, "fallback", func() bool { _, _, ds := state(t, a, r); return len(ds) == 2 })
			}
			st, dl, ds := state(t, a, r)
			if dl.State != c.delivery {
				t.Fatalf("referral %s, delivery %s with receipts %+v; want %s", st, dl.State, dl.Receipts, c.delivery)
			}
			switch {
			case c.delivery == gateway.DeliveryFailed:
				if len(dl.Receipts) != 1 || !strings.Contains(dl.Receipts[0].Detail, c.detail) || strings.Contains(dl.Receipts[0].Detail, "5.1.1") ||
					ds[1].Channel != gateway.ChannelFax {
					t.Fatalf("receipts %+v, next %s; want one failure naming %q, then fax", dl.Receipts, ds[1].Channel, c.detail)
				}
			case c.inbound == gateway.InboundQuarantined:
				if it.Reason != string(inbound.ReasonRecipientNotSent) || len(dl.Receipts) != 0 || !dl.Deadline.Equal(d.Deadline) || len(ds) != 1 {
					t.Fatalf("reason %q, %d receipts, deadline %s (was %s), %d deliveries", it.Reason, len(dl.Receipts), dl.Deadline, d.Deadline, len(ds))
				}
				e := hasAction(a.actions(t, "clinic-a"), "direct.inbound-refused")
				if e == nil || e.Detail["reason"] != string(inbound.ReasonRecipientNotSent) || !strings.Contains(e.Detail["error"], d.ID) ||
					strings.Contains(e.Detail["error"], other) || strings.Contains(e.Detail["error"], "billing@") {
					t.Fatalf("trail: %+v; want the refusal with ids only", e)
				}
			default:
				// Progress on the delivery; the processed deadline stands.
				if len(dl.Receipts) != 1 || dl.Receipts[0].Final || !strings.HasPrefix(dl.Receipts[0].Detail, "dsn ") ||
					!dl.Deadline.Equal(d.Deadline) || len(ds) != 1 || st != gateway.StatusRequested {
					t.Fatalf("referral %s, receipts %+v, deadline %s (was %s), %d deliveries", st, dl.Receipts, dl.Deadline, d.Deadline, len(ds))
				}
			}
		})
	}
}

// TestMDNForAnotherRecipient: a signed MDN from the receiver whose
// Final-Recipient and Original-Recipient name an address our delivery did
// not go to reports on that recipient, not ours: it changes nothing.
func TestMDNForAnotherRecipient(t *testing.T) {
	a, b := igPair(t, nil)
	r, d := sentDirect(t, a)
	stranger := "someone@direct.elsewhere.example"
	raw, err := mdn.Build(mdn.Notification{From: addrB, To: addrA, MessageID: message.NewMessageID(domainB), Date: b.clock.Now(),
		ReportingUA: domainB + "; test", OriginalRecipient: stranger, FinalRecipient: stranger, OriginalMessageID: d.RemoteID,
		Disposition: mdn.Failed, Failure: "no such user"})
	if err != nil {
		t.Fatal(err)
	}
	sendSealed(t, b, addrB, a.identity.Cert, addrA, raw)
	applied(t, a, 1)
	if it := a.inbox(t, "")[0]; it.State != gateway.InboundQuarantined || it.Reason != string(inbound.ReasonRecipientNotSent) {
		t.Fatalf("the MDN at A: state %s, reason %q (%s)", it.State, it.Reason, it.Error)
	}
	if st, dl, ds := state(t, a, r); st != gateway.StatusRequested || dl.State != gateway.DeliverySent || len(dl.Receipts) != 0 || len(ds) != 1 {
		t.Fatalf("referral %s, delivery %s with %d receipts, %d deliveries", st, dl.State, len(dl.Receipts), len(ds))
	}
}

// TestReplyReceiptForAnotherRecipient: a receipt for a reply we sent
// counts only when it is about the address the reply went to; one whose
// recipient fields name another is quarantined as recipient-not-sent.
func TestReplyReceiptForAnotherRecipient(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	sendSealed(t, a, addrA, b.identity.Cert, addrB, compose(t, message.Outbound{From: addrA, To: []string{addrB},
		Subject: "Referral [ref:q1]", MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic question."}))
	b.processUntil(t, "B's inbox", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 1 })
	replyID, err := b.proc.Reply(t.Context(), gateway.Actor{ID: "user:nurse", OrgID: "cardio-b"}, b.inbox(t, gateway.InboundNew)[0].ID,
		addrB, "Synthetic answer.")
	if err != nil {
		t.Fatal(err)
	}
	stranger := "someone@direct.elsewhere.example"
	raw, err := mdn.Build(mdn.Notification{From: addrA, To: addrB, MessageID: message.NewMessageID(domainA), Date: a.clock.Now(),
		ReportingUA: domainA + "; test", OriginalRecipient: stranger, FinalRecipient: stranger, OriginalMessageID: replyID,
		Disposition: mdn.Processed})
	if err != nil {
		t.Fatal(err)
	}
	sendSealed(t, a, addrA, b.identity.Cert, addrB, raw)
	var reports []*gateway.InboundMessage
	b.processUntil(t, "A's genuine MDN and the stranger's at B", func() bool {
		reports = reports[:0]
		for _, it := range b.inbox(t, "") {
			if it.Kind == "report" && it.State != gateway.InboundReceived {
				reports = append(reports, it)
			}
		}
		return len(reports) == 2
	})
	var matched, refused int
	for _, it := range reports {
		switch {
		case it.State == gateway.InboundMatched:
			matched++
		case it.State == gateway.InboundQuarantined && it.Reason == string(inbound.ReasonRecipientNotSent):
			refused++
		}
	}
	if matched != 1 || refused != 1 {
		t.Fatalf("%d matched, %d refused as recipient-not-sent; want 1 and 1: %+v", matched, refused, reports)
	}
}
