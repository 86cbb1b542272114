package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestReceiptReportAndReverse reads a delivered referral's compliance
// receipt and the practice report over the API and the console, then
// refers the patient back for the receiving practice; an auditor may read
// but not refer.
func TestReceiptReportAndReverse(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	e.startWorkers()
	sent := e.referral("dr-heart", true)
	e.waitFor("received", func() bool {
		r, _, err := e.svc.Referral(e.ctx, sent.ID)
		return err == nil && r.Status == gateway.StatusReceived
	})

	auditor := e.mustLoginPractice("clinic-a", "audrey", admin.RoleAuditor)
	r := auditor.do("GET", "/admin/v1/referrals/"+sent.ID+"/receipt", nil)
	var rc gateway.ComplianceReceipt
	r.json(t, &rc)
	if r.status != http.StatusOK || rc.ReferralID != sent.ID || !rc.Verification.OK || len(rc.Lines) == 0 {
		t.Fatalf("receipt: %d %s", r.status, r.body)
	}
	if r := auditor.do("GET", "/admin/v1/referrals/nope/receipt", nil); r.status != http.StatusNotFound {
		t.Fatalf("unknown referral's receipt: %d %s", r.status, r.body)
	}
	page := auditor.do("GET", "/admin/referrals/"+sent.ID+"/receipt", nil)
	if page.status != http.StatusOK || !strings.Contains(string(page.body), "45 CFR 164.506(c)") || !strings.Contains(string(page.body), "Verified") {
		t.Fatalf("receipt page: %d %.500s", page.status, page.body)
	}

	today := e.clock.Now().UTC().Format(time.DateOnly)
	r = auditor.do("GET", "/admin/v1/reports/referrals?practice=clinic-a&to="+today, nil)
	var rep gateway.PracticeReport
	r.json(t, &rep)
	if r.status != http.StatusOK || rep.ReferralsOut != 1 || rep.Cross != 1 || len(rep.Sent) != 1 || rep.Sent[0].Channel != "fhir" {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	if r := auditor.do("GET", "/admin/v1/reports/referrals?practice=clinic-a&from=yesterday", nil); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(string(r.body), "from") {
		t.Fatalf("bad from: %d %s", r.status, r.body)
	}
	page = auditor.do("GET", "/admin/reports?practice=clinic-a&to="+today, nil)
	body := string(page.body)
	if page.status != http.StatusOK || strings.Count(body, "<svg") != 6 || !strings.Contains(body, `role="img"`) ||
		!strings.Contains(body, "Referrals sent, by delivering channel") {
		t.Fatalf("reports page: %d %.800s", page.status, body)
	}

	// The auditor reads; only a role that changes things refers back.
	if r := auditor.do("POST", "/admin/v1/referrals/"+sent.ID+"/reverse", map[string]any{}); r.status != http.StatusForbidden {
		t.Fatalf("auditor reversing: %d %s", r.status, r.body)
	}
	op := e.mustLoginPractice("cardio-b", "otto", admin.RoleOperator) // the receiver refers back
	r = op.do("POST", "/admin/v1/referrals/"+sent.ID+"/reverse", map[string]any{"reasonText": "back to primary care"})
	var back admin.ReferralView
	r.json(t, &back)
	// clinic-a has no channel in this directory: the referral back is held, naming why.
	if r.status != http.StatusCreated || back.BasedOn != sent.ID || back.RequesterOrg != "cardio-b" || back.ReceiverID != "clinic-a" ||
		back.Status != gateway.StatusDraft || back.Blocked == "" {
		t.Fatalf("reverse: %d %s", r.status, r.body)
	}
	tl := op.do("GET", "/admin/v1/referrals/"+sent.ID+"/timeline", nil)
	if !strings.Contains(string(tl.body), back.ID) {
		t.Fatalf("original's timeline does not link the follow-up: %s", tl.body)
	}
	if r := op.do("POST", "/admin/v1/referrals/"+sent.ID+"/reverse", map[string]any{"bogus": 1}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(string(r.body), `"field":"bogus"`) {
		t.Fatalf("unknown field: %d %s", r.status, r.body)
	}
}
