package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestInbox: received Direct mail in the API and the console. A practice
// sees its own messages only; a gateway-wide account sees all, including
// mail no practice owns; releasing a quarantined message needs a reason and
// a role that may change, and is audited in the practice's trail.
func TestInbox(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	if _, err := e.svc.PutEntry(e.ctx, e.seeder, &gateway.Entry{ID: "derm-c", Kind: gateway.KindOrganization,
		Name: "Synthetic Dermatology", Direct: &gateway.DirectEndpoint{Address: "intake@direct.derm-c.example"}}); err != nil {
		t.Fatal(err)
	}
	receive := func(to, raw string) *gateway.InboundMessage {
		t.Helper()
		m, _, err := e.svc.ReceiveInbound(e.ctx, gateway.NewInbound{Channel: gateway.ChannelDirect, MailFrom: "sender@direct.other.example",
			RcptTo: []string{to}, MessageID: raw + "@direct.other.example", Raw: []byte(raw)})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ours := receive("intake@direct.derm-c.example", "synthetic-1")
	stray := receive("nobody@direct.nowhere.example", "synthetic-2")
	if _, err := e.svc.ApplyInbound(e.ctx, ours.ID, gateway.InboundOutcome{State: gateway.InboundQuarantined,
		Reason: "bad-signature", Error: "signature does not verify", Summary: &gateway.InboundSummary{Subject: "Synthetic consult request",
			Attachments: []gateway.InboundAttachment{{Name: "note.pdf", ContentType: "application/pdf", Size: 42}}}}); err != nil {
		t.Fatal(err)
	}

	derm := e.mustLoginPractice("derm-c", "dana", admin.RoleOperator)
	var page struct {
		Messages []gateway.InboundMessage `json:"messages"`
	}
	if r := derm.do("GET", "/admin/v1/inbox", nil); r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	} else {
		r.json(t, &page)
	}
	if len(page.Messages) != 1 || page.Messages[0].ID != ours.ID || page.Messages[0].Summary == nil ||
		page.Messages[0].Summary.Subject != "Synthetic consult request" || page.Messages[0].Reason != "bad-signature" {
		t.Fatalf("practice list: %+v", page.Messages)
	}
	if r := derm.do("GET", "/admin/v1/inbox/"+stray.ID, nil); r.status != http.StatusNotFound {
		t.Fatalf("another tenant's message: %d", r.status)
	}
	if r := derm.do("GET", "/admin/v1/inbox?state=lost", nil); r.status != http.StatusUnprocessableEntity || r.problem(t).Errors[0].Field != "state" {
		t.Fatalf("bad state: %d %s", r.status, r.body)
	}

	auditor := e.mustLogin("ada", admin.RoleAuditor)
	auditor.do("GET", "/admin/v1/inbox", nil).json(t, &page)
	if len(page.Messages) != 2 {
		t.Fatalf("gateway-wide list: %d messages", len(page.Messages))
	}
	if r := auditor.do("POST", "/admin/v1/inbox/"+ours.ID+"/release", map[string]string{"reason": "x"}); r.status != http.StatusForbidden {
		t.Fatalf("auditor release: %d", r.status)
	}
	if r := derm.do("POST", "/admin/v1/inbox/"+ours.ID+"/release", map[string]string{"reason": " "}); r.status != http.StatusUnprocessableEntity ||
		r.problem(t).Errors[0].Field != "reason" {
		t.Fatalf("release without a reason: %d %s", r.status, r.body)
	}
	r := derm.do("POST", "/admin/v1/inbox/"+ours.ID+"/release", map[string]string{"reason": "sender confirmed by phone"})
	var released gateway.InboundMessage
	if r.status != http.StatusOK {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	r.json(t, &released)
	if released.State != gateway.InboundReceived || !released.Released || released.DecisionBy != "user:dana" {
		t.Fatalf("released: %+v", released)
	}
	if r := derm.do("POST", "/admin/v1/inbox/"+ours.ID+"/reject", map[string]string{"reason": "again"}); r.status != http.StatusConflict && r.status != http.StatusUnprocessableEntity {
		t.Fatalf("reject a released message: %d %s", r.status, r.body)
	}
	if count(e.auditActions("derm-c"), "inbound.released/success") != 1 {
		t.Fatalf("release not audited: %v", e.auditActions("derm-c"))
	}

	// The console lists it and shows the entry.
	if r := derm.do("GET", "/admin/inbox", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "Synthetic consult request") {
		t.Fatalf("inbox page: %d", r.status)
	}
	if r := derm.do("GET", "/admin/inbox/"+ours.ID, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "note.pdf — application/pdf, 42 bytes") {
		t.Fatalf("entry page: %d %s", r.status, r.body)
	}
}
