package inbound_test

import (
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
