package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestReferralSearchByPatientName: names are sealed at rest, so the
// tracker finds a patient by name after decryption, one practice at a
// time.
func TestReferralSearchByPatientName(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	first := e.referral("dr-heart", false) // patient Alex Testpatient
	other, err := e.svc.CreateReferral(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, gateway.NewReferral{
		Requester:  gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary", NPI: "1234567893"},
		ReceiverID: "dr-heart",
		Patient:    gateway.Patient{ID: "MRN-0002", FamilyName: "Otherperson", GivenName: "Sam", BirthDate: "1981-02-03"},
		Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "49436004", Display: "Atrial fibrillation"},
		Priority:   gateway.PriorityRoutine,
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
	})
	if err != nil {
		t.Fatal(err)
	}
	operator := e.mustLoginPractice("clinic-a", "op-a", admin.RoleOperator)
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"testpat", []string{first.ID}},
		{"ALEX", []string{first.ID}},
		{"other", []string{other.ID}},
		{"a", []string{first.ID, other.ID}},
		{"nobody", nil},
	} {
		r := operator.do("GET", "/admin/v1/referrals?patient="+tt.query, nil)
		var page struct {
			Referrals []struct {
				ID string `json:"id"`
			} `json:"referrals"`
		}
		r.json(t, &page)
		var got []string
		for _, ref := range page.Referrals {
			got = append(got, ref.ID)
		}
		if r.status != http.StatusOK || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("patient=%s: %d %v, want %v", tt.query, r.status, got, tt.want)
		}
	}
	// The console's tracker has the same filter.
	p := operator.page("GET", "/admin/referrals?patient=otherp", nil)
	if p.status != http.StatusOK || !strings.Contains(p.html, other.ID) || strings.Contains(p.html, first.ID) {
		t.Errorf("console tracker by name: %d, has other %v, has first %v", p.status, strings.Contains(p.html, other.ID), strings.Contains(p.html, first.ID))
	}

	// Gateway-wide accounts see no practice's referrals, by name or not.
	wide := e.mustLogin("gw-admin", admin.RoleAdmin)
	r := wide.do("GET", "/admin/v1/referrals?patient=testpat", nil)
	if r.status != http.StatusForbidden || strings.Contains(string(r.body), first.ID) {
		t.Fatalf("gateway-wide name search: %d %s, want 403", r.status, r.body)
	}
}
