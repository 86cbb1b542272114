package inbound_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// TestReplies applies replies matched by In-Reply-To and by the subject
// token: a decline with its reason, and a consult note without a command,
// which is kept and leaves the status alone. Both trails still verify.
func TestReplies(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	seedB(t, b)       // B accepts the referrals at addrB...
	stopWorkers(t, b) // ...and does not answer them: the replies below are B's only word
	declined, noted := create(t, a), create(t, a)
	sent := map[string]string{} // referral id → Message-ID
	eventually(t, "both sent", func() bool {
		for _, r := range []*gateway.Referral{declined, noted} {
			_, ds := a.referral(t, r.ID)
			if len(ds) != 1 || ds[0].State != gateway.DeliverySent {
				return false
			}
			sent[r.ID] = ds[0].RemoteID
		}
		return true
	})

	decline := compose(t, message.Outbound{From: addrB, To: []string{addrA}, Subject: "Re: your message",
		MessageID: message.NewMessageID(domainB), InReplyTo: sent[declined.ID], References: []string{sent[declined.ID]},
		Date: b.clock.Now(), SummaryText: "Decline: not taking new patients\nPlease try the county clinic.\n\n> Referral ..."})
	note := compose(t, message.Outbound{From: addrB, To: []string{addrA}, Subject: "RE: Referral [ref:" + noted.ID + "]",
		MessageID: message.NewMessageID(domainB), Date: b.clock.Now(), SummaryText: "Consult note attached.",
		Attachments: []message.Attachment{{Filename: "consult.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.4 synthetic consult")}}})
	sendSealed(t, b, addrB, a.identity.Cert, addrA, decline)
	sendSealed(t, b, addrB, a.identity.Cert, addrA, note)
	a.processUntil(t, "both replies applied", func() bool { return len(replies(t, a)) == 2 })

	got, _ := a.referral(t, declined.ID)
	last := got.History[len(got.History)-1]
	if got.Status != gateway.StatusRejected || last.ReasonText != "not taking new patients\nPlease try the county clinic." {
		t.Fatalf("declined referral: %s, last transition %+v", got.Status, last)
	}
	if got, _ := a.referral(t, noted.ID); got.Status != gateway.StatusRequested {
		t.Fatalf("a note without a command changed the status to %s", got.Status)
	}
	applied := map[string]string{}
	for _, it := range replies(t, a) {
		if it.Kind != "reply" || it.From != addrB || !slices.Equal(it.Tenants, []string{"clinic-a"}) || it.Summary == nil {
			t.Errorf("inbox item: %+v", it)
		}
		var types []string
		for _, at := range it.Summary.Attachments {
			types = append(types, at.ContentType)
		}
		applied[it.ReferralID] = it.Applied + " " + strings.Join(types, ",")
	}
	if applied[declined.ID] != "rejected " || applied[noted.ID] != "stored; 1 document(s) attached to the referral application/pdf" {
		t.Fatalf("applied: %q", applied)
	}
	// The consult note is now one of the referral's records, sealed like them.
	got, _ = a.referral(t, noted.ID)
	recs, err := a.svc.RecordContents(t.Context(), got)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[2].Title != "consult.pdf" || string(recs[2].Content) != "%PDF-1.4 synthetic consult" {
		t.Fatalf("records after the consult note: %d", len(recs))
	}
	for _, n := range []*node{a, b} {
		rep, err := audit.Verify(n.store.AuditEntries(t.Context(), gateway.AuditQuery{}))
		if err != nil || !rep.OK() {
			t.Fatalf("%s trail: %+v %v", n.domain, rep, err)
		}
	}
}

// replies lists the replies n applied to its referrals.
func replies(t *testing.T, n *node) []*gateway.InboundMessage {
	t.Helper()
	var out []*gateway.InboundMessage
	for _, it := range n.inbox(t, gateway.InboundMatched) {
		if it.Kind == "reply" {
			out = append(out, it)
		}
	}
	return out
}

// TestReplySubjectStaysEncrypted: a sender that keeps its Subject inside
// the encryption (a content-free outer Subject, the real one in the wrapped
// message, as RFC 5751 section 3.1 wrapping is meant for) gets a reply
// whose real subject, "Re: " and the original, is inside the encryption
// too, and whose outer Subject says nothing of the original.
func TestReplySubjectStaysEncrypted(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	id := message.NewMessageID(domainA)
	inner := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Question about Alex Testpatient",
		MessageID: id, Date: a.clock.Now(), SummaryText: "Synthetic question."})
	outer := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Direct message",
		MessageID: id, Date: a.clock.Now(), SummaryText: "-"})
	sendRaw(t, a, addrA, addrB, osslSeal(t, a, b, outer, wrap(inner), "sha256"))
	b.processUntil(t, "B's inbox", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 1 })
	if _, err := b.proc.Reply(t.Context(), gateway.Actor{ID: "user:nurse", OrgID: "cardio-b"}, b.inbox(t, gateway.InboundNew)[0].ID,
		addrB, "Synthetic answer."); err != nil {
		t.Fatal(err)
	}
	a.processUntil(t, "the reply at A", func() bool {
		for _, it := range a.inbox(t, "") {
			if it.Kind == "message" && it.State != gateway.InboundReceived {
				return true
			}
		}
		return false
	})
	for _, it := range a.inbox(t, "") {
		if it.Kind != "message" {
			continue
		}
		_, raw, err := a.svc.InboundRaw(t.Context(), it.ID)
		if err != nil {
			t.Fatal(err)
		}
		hdr, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		if bytes.Contains(hdr, []byte("Testpatient")) {
			t.Errorf("the original subject travels outside the encryption:\n%s", hdr)
		}
		if in := openAs(t, a, raw, addrB); in.Subject != "Re: Question about Alex Testpatient" || in.InReplyTo != id {
			t.Errorf("reply inside: subject %q, in reply to %q", in.Subject, in.InReplyTo)
		}
	}
}
