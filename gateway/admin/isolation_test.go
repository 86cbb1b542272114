package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/storetest"
)

// openPostgresAppRole opens a fresh schema of the test PostgreSQL as the
// gateway's app role (NOSUPERUSER, NOBYPASSRLS, owning nothing), so the
// row-level security policies bind every request.
func openPostgresAppRole(t *testing.T) gateway.Store {
	t.Helper()
	appURL := pgtest.AppRole(t, pgtest.FreshSchema(t, "gwtest_"))
	s, err := pgstore.Open(t.Context(), appURL, storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPracticeAccountSeesOnlyItsPractice logs in as clinic-a's auditor
// and operator and probes, over HTTP, everything of another practice
// (ortho-c, which also refers to cardio-b): its referrals, their
// timelines and receipts, its trail, its BAAs, its report. On the embedded
// store the core's code keeps them apart; on PostgreSQL the database does.
func TestPracticeAccountSeesOnlyItsPractice(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) gateway.Store
	}{
		{"embedded", nil},
		{"postgres app role", openPostgresAppRole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			if tc.open == nil {
				e = newEnv(t, storetest.Behavior{})
			} else {
				e = newEnvStore(t, storetest.Behavior{}, admin.Config{}, tc.open(t))
			}
			testPracticeIsolation(t, e)
		})
	}
}

func testPracticeIsolation(t *testing.T, e *env) {
	e.seed()
	if _, err := e.svc.PutEntry(e.ctx, e.seeder, &gateway.Entry{ID: "ortho-c", Kind: gateway.KindOrganization,
		Name: "Synthetic Orthopedics"}); err != nil {
		t.Fatal(err)
	}
	for _, party := range []string{"clinic-a", "ortho-c"} {
		if _, err := e.svc.SetBAA(e.ctx, e.seeder, gateway.BAAChange{PartyID: party, State: gateway.BAAActive,
			End: e.clock.Now().AddDate(1, 0, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	e.startWorkers()
	mine := e.referral("dr-heart", true)
	theirs, err := e.svc.CreateReferral(e.ctx, gateway.Actor{ID: "user:ortho", OrgID: "ortho-c"}, gateway.NewReferral{
		Requester: gateway.Requester{OrgID: "ortho-c", Name: "Dr. Synthetic Bones"}, ReceiverID: "dr-heart",
		Patient: gateway.Patient{ID: "MRN-ORTHO", FamilyName: "Otherpatient"}, Reason: gateway.Coding{Code: "1234"},
		Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment}, Submit: true})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("both delivered", func() bool {
		a, _, err1 := e.svc.Referral(e.ctx, mine.ID)
		b, _, err2 := e.svc.Referral(e.ctx, theirs.ID)
		return err1 == nil && err2 == nil && a.Status == gateway.StatusReceived && b.Status == gateway.StatusReceived
	})
	aud := e.mustLoginPractice("clinic-a", "audrey", admin.RoleAuditor)
	op := e.mustLoginPractice("clinic-a", "oscar", admin.RoleOperator)

	// The tracker lists clinic-a's referral only.
	var list struct{ Referrals []admin.ReferralRow }
	aud.do("GET", "/admin/v1/referrals", nil).json(t, &list)
	if len(list.Referrals) != 1 || list.Referrals[0].ID != mine.ID {
		t.Errorf("clinic-a's tracker lists %+v", list.Referrals)
	}
	for _, path := range []string{"/admin/v1/referrals?receiver=dr-heart", "/admin/v1/referrals?status=received"} {
		if r := aud.do("GET", path, nil); strings.Contains(string(r.body), theirs.ID) {
			t.Errorf("%s shows ortho-c's referral", path)
		}
	}
	// Another practice's referral does not exist for clinic-a.
	for _, path := range []string{"/admin/v1/referrals/" + theirs.ID + "/timeline", "/admin/v1/referrals/" + theirs.ID + "/receipt",
		"/admin/referrals/" + theirs.ID, "/admin/referrals/" + theirs.ID + "/receipt"} {
		if r := aud.do("GET", path, nil); r.status != http.StatusNotFound || strings.Contains(string(r.body), "ortho-c") {
			t.Errorf("%s: %d %.200s", path, r.status, r.body)
		}
	}
	if r := op.do("POST", "/admin/v1/referrals/"+theirs.ID+"/reverse", map[string]any{"reasonText": "x"}); r.status != http.StatusNotFound {
		t.Errorf("clinic-a reversing ortho-c's referral: %d %s", r.status, r.body)
	}
	// Its own timeline carries clinic-a's trail entries only.
	var tl admin.Timeline
	aud.do("GET", "/admin/v1/referrals/"+mine.ID+"/timeline", nil).json(t, &tl)
	if len(tl.Audit) == 0 {
		t.Fatal("clinic-a's timeline has no trail")
	}
	for _, a := range tl.Audit {
		if a.Tenant != "clinic-a" {
			t.Errorf("clinic-a's timeline shows %s's entry %s", a.Tenant, a.Action)
		}
	}

	// The trail page shows clinic-a's chain whatever tenant is asked for.
	for _, tenant := range []string{"", "ortho-c", "cardio-b", "gateway"} {
		p := aud.do("GET", "/admin/audit?tenant="+tenant, nil)
		body := string(p.body)
		if p.status != http.StatusOK || !strings.Contains(body, mine.ID) || strings.Contains(body, theirs.ID) {
			t.Errorf("trail page for %q: %d, own referral shown %v, ortho-c's shown %v", tenant, p.status,
				strings.Contains(body, mine.ID), strings.Contains(body, theirs.ID))
		}
	}
	var rep admin.VerifyReport
	aud.do("GET", "/admin/v1/audit/verify", nil).json(t, &rep)
	if !rep.OK || rep.Tenants != 1 {
		t.Errorf("clinic-a verifies %d chains, want its own: %+v", rep.Tenants, rep)
	}

	// BAAs: clinic-a's own, not cardio-b's (which it refers to) nor ortho-c's.
	var baas struct{ BAAs []admin.BAARow }
	aud.do("GET", "/admin/v1/baas", nil).json(t, &baas)
	var parties []string
	for _, row := range baas.BAAs {
		parties = append(parties, row.BAA.PartyID)
	}
	if !slices.Equal(parties, []string{"clinic-a"}) {
		t.Errorf("clinic-a's BAA board: %v", parties)
	}
	board := string(aud.do("GET", "/admin/baas", nil).body)
	for _, other := range []string{`id="party-ortho-c"`, `id="party-cardio-b"`} {
		if strings.Contains(board, other) {
			t.Errorf("clinic-a's BAA page has %s", other)
		}
	}
	if r := op.do("POST", "/admin/v1/baas/ortho-c/transition", map[string]any{"state": "terminated"}); r.status != http.StatusForbidden {
		t.Errorf("clinic-a terminating ortho-c's BAA: %d %s", r.status, r.body)
	}
	all, err := e.svc.BAAs(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range all {
		if b.PartyID == "ortho-c" && b.State != gateway.BAAActive {
			t.Errorf("ortho-c's BAA is %s after clinic-a's attempt", b.State)
		}
	}
	// Its report only.
	if r := aud.do("GET", "/admin/v1/reports/referrals?practice=ortho-c", nil); r.status != http.StatusForbidden {
		t.Errorf("clinic-a reading ortho-c's report: %d %s", r.status, r.body)
	}
	// Every console action is in clinic-a's trail, naming the account and
	// the practice, the refused ones included.
	var refused []string
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: "clinic-a"}) {
		if err != nil {
			t.Fatal(err)
		}
		if en.Action == "admin.refused" && en.Detail["practice"] == "clinic-a" {
			refused = append(refused, en.Actor+" "+en.Detail["route"])
		}
	}
	for _, want := range []string{"user:oscar POST POST /admin/v1/baas/{partyId}/transition",
		"user:audrey GET GET /admin/v1/reports/referrals"} {
		if !slices.Contains(refused, want) {
			t.Errorf("clinic-a's trail lacks the refusal %q: %v", want, refused)
		}
	}
}
