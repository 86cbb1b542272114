package admin

import (
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestPagesGolden renders console pages from fixed data and compares them
// with testdata/*.golden.html; run with -update after an intended change.
func TestPagesGolden(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	ss := &session{Account: "ada", Role: RoleAdmin, CSRF: "csrf-token-for-golden-files"}
	clinic := &gateway.Entry{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic", NPI: "1234567893"}
	cardio := &gateway.Entry{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology",
		Direct: &gateway.DirectEndpoint{Address: "intake@direct.cardio-b.example"}}
	tests := []struct {
		name, page string
		v          view
	}{
		{"login-failed", "login", view{Title: "Log in", Error: "The name, password or code is wrong.", Data: loginData{Name: "ada", CSRF: "login-token"}}},
		{"baas", "baas", view{Title: "Business Associate Agreements", Nav: "baas", Session: ss, Data: baasData{Rows: []BAARow{
			{Party: cardio, BAA: &gateway.BAA{PartyID: "cardio-b", State: gateway.BAAActive, Start: at, End: at.AddDate(0, 1, 0), Document: "baa/cardio-b.pdf"}, Effective: gateway.BAAExpiring},
			{Party: clinic},
		}}}},
		{"timeline", "timeline", view{Title: "Referral r-1", Nav: "referrals", Session: ss, Data: &Timeline{
			Referral: ReferralView{ID: "r-1", Version: 3, Status: gateway.StatusReceived, Priority: gateway.PriorityRoutine, Created: at, Updated: at.Add(time.Minute),
				RequesterOrg: "clinic-a", ReceiverID: "cardio-b", ReceiverOrgID: "cardio-b", Records: 1},
			Transitions: []TransitionView{{From: gateway.StatusDraft, To: gateway.StatusRequested, Actor: "user:referrer", At: at},
				{From: gateway.StatusRequested, To: gateway.StatusReceived, Actor: "system", At: at.Add(time.Minute)}},
			Deliveries: []*gateway.Delivery{{ID: "d-1", ReferralID: "r-1", Channel: gateway.ChannelDirect, State: gateway.DeliveryDelivered, Attempts: 1, SentAt: at,
				Receipts: []gateway.Receipt{{Kind: gateway.ReceiptProcessed, At: at.Add(30 * time.Second)}, {Kind: gateway.ReceiptDispatched, At: at.Add(time.Minute), Final: true}}}},
			Audit: []AuditEntryView{{Tenant: "clinic-a", Seq: 7, Time: at, Actor: "user:referrer", ReferralID: "r-1", Action: "referral.created",
				Outcome: audit.OutcomeSuccess, Detail: map[string]string{"receiver": "cardio-b"}}},
		}}},
		{"clients", "clients", view{Title: "FHIR clients", Nav: "clients", Session: ss, Data: []ClientInfo{
			{ID: "ehr-1", OrgID: "clinic-a", Scopes: []string{"system/Task.rs", "system/ServiceRequest.r"}, KeyIDs: []string{"k1", "k2"}},
			{ID: "ehr-2", OrgID: "cardio-b", Scopes: []string{"system/Task.cruds"}, KeyIDs: []string{"k9"}, Disabled: true},
		}}},
		{"audit-broken", "audit", view{Title: "Audit trail", Nav: "audit", Session: ss, Data: auditData{
			Report: VerifyReport{Tenants: 2, Entries: 40, At: at, Breaks: []audit.Break{{Tenant: "cardio-b", Seq: 2, Reason: "hash mismatch"}}}}}},
	}
	s := &Server{pages: parsePages(), log: slog.New(slog.DiscardHandler)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.render(rec, httptest.NewRequest("GET", "/admin/", nil), http.StatusOK, tc.page, tc.v)
			got := rec.Body.Bytes()
			path := filepath.Join("testdata", tc.name+".golden.html")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s differs from the golden file; run go test -run TestPagesGolden -update and review the diff.\ngot:\n%s", path, got)
			}
		})
	}
}
