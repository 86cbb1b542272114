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

// practice is a valid new directory entry with a Direct address.
func practice(id string) map[string]any {
	return map[string]any{"id": id, "kind": "organization", "name": "Synthetic Dermatology " + id, "npi": "1245319599",
		"direct": map[string]any{"address": "intake@direct." + id + ".example"}}
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	c := e.mustLogin("ada", admin.RoleAdmin)
	tests := []struct {
		name  string
		token string
	}{
		{"missing", ""},
		{"wrong", "not-the-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			good := c.csrf
			c.csrf = tc.token
			defer func() { c.csrf = good }()
			r := c.do("POST", "/admin/v1/entries", practice("derm-"+tc.name))
			if r.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", r.status, r.body)
			}
			if p := r.problem(t); !strings.Contains(p.Detail, "X-CSRF-Token") {
				t.Fatalf("the API's refusal does not name the header: %q", p.Detail)
			}
			if _, err := e.svc.Entry(e.ctx, "derm-"+tc.name); err == nil {
				t.Fatal("the entry was created without a valid CSRF token")
			}
		})
	}
	if n := count(e.auditActions("gateway"), "admin.csrf-refused/refused"); n != 2 {
		t.Fatalf("CSRF refusals audited %d times, want 2", n)
	}
	if r := c.do("POST", "/admin/v1/entries", practice("derm-ok")); r.status != http.StatusCreated {
		t.Fatalf("with the token: %d %s", r.status, r.body)
	}
}

func TestRoles(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	clients := map[admin.Role]*client{
		admin.RoleAdmin:    e.mustLogin("ada", admin.RoleAdmin),
		admin.RoleOperator: e.mustLogin("oscar", admin.RoleOperator),
		admin.RoleAuditor:  e.mustLogin("audrey", admin.RoleAuditor),
	}
	type call struct {
		method, path string
		body         any
	}
	tests := []struct {
		name  string
		call  func(role admin.Role) call
		allow map[admin.Role]bool
	}{
		{"read directory", func(admin.Role) call { return call{"GET", "/admin/v1/entries", nil} },
			map[admin.Role]bool{admin.RoleAdmin: true, admin.RoleOperator: true, admin.RoleAuditor: true}},
		{"verify audit chain", func(admin.Role) call { return call{"GET", "/admin/v1/audit/verify", nil} },
			map[admin.Role]bool{admin.RoleAdmin: true, admin.RoleOperator: true, admin.RoleAuditor: true}},
		{"add entry", func(r admin.Role) call { return call{"POST", "/admin/v1/entries", practice("derm-" + string(r))} },
			map[admin.Role]bool{admin.RoleAdmin: true, admin.RoleOperator: true}},
		{"verify entry", func(admin.Role) call {
			return call{"POST", "/admin/v1/entries/clinic-a/verify", map[string]string{"method": "NPPES match"}}
		}, map[admin.Role]bool{admin.RoleAdmin: true, admin.RoleOperator: true}},
		{"BAA transition", func(admin.Role) call {
			return call{"POST", "/admin/v1/baas/clinic-a/transition", map[string]string{"state": "draft"}}
		}, map[admin.Role]bool{admin.RoleAdmin: true}}, // the operator's call comes second: draft → draft is illegal (409, not 403)
		{"create account", func(r admin.Role) call {
			return call{"POST", "/admin/v1/accounts", map[string]string{"name": "new-" + string(r), "password": "correct horse battery", "role": "auditor"}}
		}, map[admin.Role]bool{admin.RoleAdmin: true}},
	}
	for _, tc := range tests {
		for _, role := range []admin.Role{admin.RoleAdmin, admin.RoleOperator, admin.RoleAuditor} {
			t.Run(tc.name+"/"+string(role), func(t *testing.T) {
				cl := tc.call(role)
				r := clients[role].do(cl.method, cl.path, cl.body)
				switch {
				case tc.allow[role] && r.status >= 300:
					t.Fatalf("%s refused: %d %s", role, r.status, r.body)
				case !tc.allow[role] && r.status != http.StatusForbidden && !(tc.name == "BAA transition" && role == admin.RoleOperator):
					t.Fatalf("%s allowed or wrong refusal: %d %s", role, r.status, r.body)
				case !tc.allow[role] && r.status == http.StatusForbidden:
					if p := r.problem(t); !strings.Contains(p.Detail, string(role)) {
						t.Fatalf("refusal does not name the role: %+v", p)
					}
				}
			})
		}
	}
	if _, err := e.svc.Entry(e.ctx, "derm-auditor"); err == nil {
		t.Fatal("the auditor's entry exists")
	}
	if n := count(e.auditActions("gateway"), "admin.refused/refused"); n != 5 {
		t.Fatalf("role refusals audited %d times, want 5", n)
	}
}

func TestEntryValidationNamesFields(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	c := e.mustLogin("ada", admin.RoleAdmin)
	with := func(changes map[string]any) map[string]any {
		p := practice("derm-x")
		for k, v := range changes {
			p[k] = v
		}
		return p
	}
	tests := []struct {
		name   string
		body   any
		fields []string
	}{
		{"bad NPI", with(map[string]any{"npi": "1234567890"}), []string{"npi"}},
		{"bad NPI and no name", with(map[string]any{"npi": "12345", "name": " "}), []string{"name", "npi"}},
		{"bad Direct address", with(map[string]any{"direct": map[string]any{"address": "Dr Who <who@example>"}}), []string{"direct.address"}},
		{"bad fax number", with(map[string]any{"fax": map[string]any{"number": "555-0123"}}), []string{"fax.number"}},
		{"unknown kind", with(map[string]any{"kind": "hospital"}), []string{"kind"}},
		{"unknown parent", with(map[string]any{"parentId": "nowhere"}), []string{"parentId"}},
		{"unknown field", with(map[string]any{"colour": "blue"}), []string{"colour"}},
		{"wrong type", with(map[string]any{"onPlatform": "yes"}), []string{"onPlatform"}},
		{"not JSON", "just a string", []string{"body"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "/admin/v1/entries", tc.body)
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", r.status, r.body)
			}
			p := r.problem(t)
			var got []string
			for _, f := range p.Errors {
				got = append(got, f.Field)
				if f.Reason == "" {
					t.Errorf("field %s without a reason", f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields %v, want %v (%s)", got, tc.fields, r.body)
			}
			if p.Type == "" || p.Title == "" || p.Status != 422 {
				t.Fatalf("incomplete problem %+v", p)
			}
		})
	}
}

func TestEntryCreateUpdateIfMatch(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	c := e.mustLogin("ada", admin.RoleAdmin)
	r := c.do("POST", "/admin/v1/entries", practice("derm-1"))
	if r.status != http.StatusCreated || r.header.Get("ETag") != `"1"` || r.header.Get("Location") != "/admin/v1/entries/derm-1" {
		t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
	}
	if r := c.do("POST", "/admin/v1/entries", practice("derm-1")); r.status != http.StatusConflict || r.problem(t).Errors[0].Field != "id" {
		t.Fatalf("second create: %d %s", r.status, r.body)
	}
	changed := practice("derm-1")
	changed["name"] = "Synthetic Dermatology, renamed"
	tests := []struct {
		name    string
		ifMatch string
		want    int
		etag    string
	}{
		{"no If-Match", "", http.StatusPreconditionRequired, ""},
		{"garbage If-Match", "soon", http.StatusUnprocessableEntity, ""},
		{"current version", `"1"`, http.StatusOK, `"2"`},
		{"stale version", `"1"`, http.StatusPreconditionFailed, ""},
		{"weak current version", `W/"2"`, http.StatusOK, `"3"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ifMatch != "" {
				hdr = []string{"If-Match", tc.ifMatch}
			}
			r := c.do("PUT", "/admin/v1/entries/derm-1", changed, hdr...)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if tc.etag != "" && r.header.Get("ETag") != tc.etag {
				t.Fatalf("ETag %q, want %q", r.header.Get("ETag"), tc.etag)
			}
			if tc.want >= 400 {
				if p := r.problem(t); len(p.Errors) == 0 || p.Errors[0].Field != "If-Match" {
					t.Fatalf("problem does not name If-Match: %+v", p)
				}
			}
		})
	}
	got := c.do("GET", "/admin/v1/entries/derm-1", nil)
	var en gateway.Entry
	got.json(t, &en)
	if en.Version != 3 || en.Name != "Synthetic Dermatology, renamed" || got.header.Get("ETag") != `"3"` {
		t.Fatalf("stored %+v etag %s", en, got.header.Get("ETag"))
	}
	if r := c.do("GET", "/admin/v1/entries/nowhere", nil); r.status != http.StatusNotFound {
		t.Fatalf("missing entry: %d", r.status)
	}
	if r := c.do("POST", "/admin/v1/entries/derm-1/verify", map[string]string{"method": ""}); r.status != 422 || r.problem(t).Errors[0].Field != "method" {
		t.Fatalf("verify without method: %d %s", r.status, r.body)
	}
	if r := c.do("POST", "/admin/v1/entries/derm-1/verify", map[string]string{"method": "phone call to front desk"}); r.status != http.StatusOK {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	acts := e.auditActions("derm-1")
	for _, want := range []string{"directory.added/success", "directory.changed/success", "directory.verified/success"} {
		if count(acts, want) == 0 {
			t.Errorf("%s not audited in the practice's trail: %v", want, acts)
		}
	}
}

func TestEntryListPaging(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	c := e.mustLogin("ada", admin.RoleAuditor)
	type page struct {
		Entries []gateway.Entry
		Next    string
	}
	var ids []string
	after := ""
	for range 5 {
		var p page
		c.do("GET", "/admin/v1/entries?limit=2&after="+after, nil).json(t, &p)
		for _, en := range p.Entries {
			ids = append(ids, en.ID)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if strings.Join(ids, ",") != "cardio-b,clinic-a,dr-heart" {
		t.Fatalf("paged ids %v", ids)
	}
	var p page
	c.do("GET", "/admin/v1/entries?search=cardiology", nil).json(t, &p)
	if len(p.Entries) != 1 || p.Entries[0].ID != "cardio-b" {
		t.Fatalf("search: %+v", p)
	}
	c.do("GET", "/admin/v1/entries?kind=practitioner", nil).json(t, &p)
	if len(p.Entries) != 1 || p.Entries[0].ID != "dr-heart" {
		t.Fatalf("kind: %+v", p)
	}
	for _, q := range []string{"kind=hospital", "limit=0", "limit=x"} {
		if r := c.do("GET", "/admin/v1/entries?"+q, nil); r.status != 422 || r.problem(t).Errors[0].Field != strings.Split(q, "=")[0] {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestBAATransitions(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	c := e.mustLogin("oscar", admin.RoleOperator)
	end := e.clock.Now().AddDate(1, 0, 0).Format(time.RFC3339)
	tests := []struct {
		name  string
		body  map[string]any
		want  int
		field string
		state gateway.BAAState
	}{
		{"new BAA cannot start expired", map[string]any{"state": "expired"}, http.StatusConflict, "state", ""},
		{"unknown state", map[string]any{"state": "pending"}, http.StatusUnprocessableEntity, "state", ""},
		{"start as sent", map[string]any{"state": "sent", "document": "baa/clinic-a-2026.pdf"}, http.StatusOK, "", gateway.BAASent},
		{"active needs a future end", map[string]any{"state": "active", "end": e.clock.Now().Add(-time.Hour).Format(time.RFC3339)}, http.StatusUnprocessableEntity, "end", ""},
		{"countersigned", map[string]any{"state": "active", "end": end}, http.StatusOK, "", gateway.BAAActive},
		{"terminated", map[string]any{"state": "terminated"}, http.StatusOK, "", gateway.BAATerminated},
		{"terminated is final", map[string]any{"state": "active", "end": end}, http.StatusConflict, "state", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "/admin/v1/baas/clinic-a/transition", tc.body)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if tc.field != "" {
				if p := r.problem(t); len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
					t.Fatalf("problem does not name %s: %s", tc.field, r.body)
				}
				return
			}
			var row admin.BAARow
			r.json(t, &row)
			if row.Effective != tc.state || row.BAA.State != tc.state {
				t.Fatalf("state %s/%s, want %s", row.Effective, row.BAA.State, tc.state)
			}
		})
	}
	acts := e.auditActions("clinic-a")
	if n := count(acts, "baa.transition-refused/refused"); n != 3 {
		t.Fatalf("refused transitions audited %d times, want 3: %v", n, acts)
	}
	if n := count(acts, "baa.transition/success"); n != 3 {
		t.Fatalf("transitions audited %d times, want 3: %v", n, acts)
	}
	if r := c.do("POST", "/admin/v1/baas/nobody/transition", map[string]any{"state": "draft"}); r.status != 422 || r.problem(t).Errors[0].Field != "partyId" {
		t.Fatalf("unknown party: %d %s", r.status, r.body)
	}
	var list struct{ BAAs []admin.BAARow }
	c.do("GET", "/admin/v1/baas", nil).json(t, &list)
	if len(list.BAAs) != 2 {
		t.Fatalf("BAA list %+v", list)
	}
	e.chainIntact()
}
