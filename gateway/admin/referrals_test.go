package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// addUnverified adds a practice nobody has verified yet.
func (e *env) addUnverified(id string) {
	e.t.Helper()
	if _, err := e.svc.PutEntry(e.ctx, e.seeder, &gateway.Entry{ID: id, Kind: gateway.KindOrganization, Name: "Synthetic Unverified " + id,
		OnPlatform: true, FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr." + id + ".example/fhir"}}); err != nil {
		e.t.Fatal(err)
	}
}

func TestReferralTrackerAndTimeline(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	e.addUnverified("derm-u")
	e.startWorkers()
	sent := e.referral("dr-heart", true)
	e.waitFor("delivery", func() bool {
		_, ds, err := e.svc.Referral(e.ctx, sent.ID)
		return err == nil && len(ds) == 1 && ds[0].State == gateway.DeliveryDelivered
	})
	draft := e.referral("dr-heart", false)
	blocked := e.referral("derm-u", true) // unverified recipient: stays a draft
	c := e.mustLoginPractice("clinic-a", "audrey", admin.RoleAuditor)

	type page struct {
		Referrals []admin.ReferralRow
		Next      string
	}
	ids := func(q string) []string {
		t.Helper()
		r := c.do("GET", "/admin/v1/referrals?"+q, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var p page
		r.json(t, &p)
		var out []string
		for _, row := range p.Referrals {
			out = append(out, row.ID)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{sent.ID, draft.ID, blocked.ID}},
		{"status=draft", []string{draft.ID, blocked.ID}},
		{"status=received", []string{sent.ID}},
		{"receiver=dr-heart", []string{sent.ID, draft.ID}},
		{"channel=fhir", []string{sent.ID}},
		{"channel=fax", nil},
		{"age=1h", nil},
		{"limit=1", []string{sent.ID}},
		{"limit=1&after=" + sent.ID, []string{draft.ID}},
	}
	for _, tc := range tests {
		t.Run("filter "+tc.query, func(t *testing.T) {
			if got := ids(tc.query); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	e.clock.Advance(2 * time.Hour)
	c = e.mustLoginPractice("clinic-a", "ada", admin.RoleAdmin) // the first session timed out meanwhile
	if got := ids("age=1h&status=draft"); !slices.Equal(got, []string{draft.ID, blocked.ID}) {
		t.Fatalf("two hours later, age=1h: %v", got)
	}
	for _, q := range []string{"status=lost", "channel=pigeon", "age=soon", "limit=501"} {
		r := c.do("GET", "/admin/v1/referrals?"+q, nil)
		if r.status != 422 || r.problem(t).Errors[0].Field != strings.Split(q, "=")[0] {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
	}

	r := c.do("GET", "/admin/v1/referrals/"+sent.ID+"/timeline", nil)
	if r.status != http.StatusOK {
		t.Fatalf("timeline: %d %s", r.status, r.body)
	}
	var tl admin.Timeline
	r.json(t, &tl)
	if tl.Referral.Status != gateway.StatusReceived || len(tl.Transitions) != 2 || tl.Transitions[1].To != gateway.StatusReceived {
		t.Fatalf("timeline referral %+v transitions %+v", tl.Referral, tl.Transitions)
	}
	if len(tl.Deliveries) != 1 || len(tl.Deliveries[0].Receipts) == 0 {
		t.Fatalf("deliveries %+v", tl.Deliveries)
	}
	var actions []string
	for _, a := range tl.Audit {
		if a.ReferralID != sent.ID {
			t.Fatalf("audit entry of another referral: %+v", a)
		}
		actions = append(actions, a.Tenant+":"+a.Action)
	}
	// The practice's own trail only: cardio-b's copy of each event is
	// cardio-b's to read.
	for _, want := range []string{"clinic-a:referral.created", "clinic-a:delivery.delivered"} {
		if !slices.Contains(actions, want) {
			t.Errorf("timeline audit lacks %s: %v", want, actions)
		}
	}
	for _, a := range tl.Audit {
		if a.Tenant != "clinic-a" {
			t.Errorf("clinic-a's timeline shows %s's entry %s", a.Tenant, a.Action)
		}
	}
	for _, phi := range []string{"Testpatient", "MRN-0001", "Atrial fibrillation", "1970-01-01", "49436004"} {
		if strings.Contains(string(r.body), phi) {
			t.Errorf("timeline carries PHI %q", phi)
		}
	}
	if r := c.do("GET", "/admin/v1/referrals/nope/timeline", nil); r.status != http.StatusNotFound {
		t.Fatalf("unknown referral: %d", r.status)
	}
}

func TestAuditVerify(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	c := e.mustLogin("audrey", admin.RoleAuditor)
	var rep admin.VerifyReport
	c.do("GET", "/admin/v1/audit/verify", nil).json(t, &rep)
	if !rep.OK || rep.Entries == 0 || rep.Tenants < 2 || len(rep.Breaks) != 0 {
		t.Fatalf("intact chain reported as %+v", rep)
	}
	tamper(t, e.store, "cardio-b", 2)
	c.do("GET", "/admin/v1/audit/verify", nil).json(t, &rep)
	if rep.OK || len(rep.Breaks) != 1 || rep.Breaks[0].Tenant != "cardio-b" || rep.Breaks[0].Seq != 2 {
		t.Fatalf("tampered chain reported as %+v", rep)
	}
}

// tamper changes one audit row behind the store's back, as a database
// superuser could.
func tamper(t *testing.T, s gateway.Store, tenant string, seq int64) {
	t.Helper()
	b := s.(*sqlstore.Store).Backend()
	tx, err := b.Begin(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET actor = 'user:mallory' WHERE tenant = ?1 AND seq = ?2`} {
		if _, err := tx.Exec(t.Context(), q, tenant, seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, storetest.Behavior{Permanent: true})
	e.seed()
	e.addUnverified("derm-u")
	now := e.clock.Now()
	// A practice whose BAA ends within the warning window and whose Direct
	// certificate expires in a week; another whose certificate is far off.
	for _, en := range []*gateway.Entry{
		{ID: "ortho-d", Kind: gateway.KindOrganization, Name: "Synthetic Orthopedics",
			Direct: &gateway.DirectEndpoint{Address: "intake@direct.ortho-d.example", CertExpires: now.AddDate(0, 0, 7)}},
		{ID: "neuro-e", Kind: gateway.KindOrganization, Name: "Synthetic Neurology",
			Direct: &gateway.DirectEndpoint{Address: "intake@direct.neuro-e.example", CertExpires: now.AddDate(1, 0, 0)}},
	} {
		if _, err := e.svc.PutEntry(e.ctx, e.seeder, en); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.SetBAA(e.ctx, e.seeder, gateway.BAAChange{PartyID: "ortho-d", State: gateway.BAAActive, End: now.AddDate(0, 0, 10)}); err != nil {
		t.Fatal(err)
	}
	e.startWorkers()
	failing := e.referral("dr-heart", true)
	e.waitFor("the delivery to fail", func() bool {
		_, ds, err := e.svc.Referral(e.ctx, failing.ID)
		return err == nil && len(ds) == 1 && ds[0].State == gateway.DeliveryFailed
	})
	waiting := e.referral("derm-u", true)
	c := e.mustLogin("oscar", admin.RoleOperator)

	var h admin.Health
	c.do("GET", "/admin/v1/health", nil).json(t, &h)
	if len(h.BAAsExpiring) != 1 || h.BAAsExpiring[0].BAA.PartyID != "ortho-d" || h.BAAsExpiring[0].Effective != gateway.BAAExpiring {
		t.Errorf("expiring BAAs %+v", h.BAAsExpiring)
	}
	if len(h.CertsExpiring) != 1 || h.CertsExpiring[0].EntryID != "ortho-d" || h.CertsExpiring[0].Expired {
		t.Errorf("expiring certificates %+v", h.CertsExpiring)
	}
	if len(h.FailingChannels) != 1 || h.FailingChannels[0].Referral.ID != failing.ID || h.FailingChannels[0].Deliveries[0].LastError == "" {
		t.Errorf("failing channels %+v", h.FailingChannels)
	}
	if len(h.UnverifiedPending) != 1 || h.UnverifiedPending[0].Entry.ID != "derm-u" || !slices.Equal(h.UnverifiedPending[0].Referrals, []string{waiting.ID}) {
		t.Errorf("unverified recipients %+v", h.UnverifiedPending)
	}

	// A day and more later the failure is old news, the BAA and the
	// certificate have run out.
	e.clock.Advance(25 * 24 * time.Hour)
	c = e.mustLogin("ada", admin.RoleAdmin)
	c.do("GET", "/admin/v1/health", nil).json(t, &h)
	if len(h.FailingChannels) != 0 {
		t.Errorf("failures older than a day still listed: %+v", h.FailingChannels)
	}
	if len(h.BAAsExpiring) != 1 || h.BAAsExpiring[0].Effective != gateway.BAAExpired {
		t.Errorf("expired BAA %+v", h.BAAsExpiring)
	}
	if len(h.CertsExpiring) != 1 || !h.CertsExpiring[0].Expired {
		t.Errorf("expired certificate %+v", h.CertsExpiring)
	}
}
