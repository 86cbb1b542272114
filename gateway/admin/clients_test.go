package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// fakeClients is an in-memory admin.ClientRegistry that refuses scopes not
// starting with "system/" and a JWKS without keys, the way the real one
// names fields, and records who changed what.
type fakeClients struct {
	mu      sync.Mutex
	clients map[string]admin.ClientInfo
	changes []string // "actor action id"
}

func newFakeClients() *fakeClients { return &fakeClients{clients: map[string]admin.ClientInfo{}} }

func (f *fakeClients) Clients(context.Context) ([]admin.ClientInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []admin.ClientInfo
	for _, c := range f.clients {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b admin.ClientInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeClients) Register(_ context.Context, actor string, c admin.ClientInfo, jwks []byte) (admin.ClientInfo, error) {
	for i, sc := range c.Scopes {
		if !strings.HasPrefix(sc, "system/") {
			return admin.ClientInfo{}, &gateway.ValidationError{Field: fmt.Sprintf("scopes[%d]", i), Reason: "not a system scope"}
		}
	}
	var doc struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &doc); err != nil || len(doc.Keys) == 0 {
		return admin.ClientInfo{}, &gateway.ValidationError{Field: "jwks", Reason: "no signing key"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.ID == "" {
		c.ID = fmt.Sprintf("client-%d", len(f.clients)+1)
	}
	c.KeyIDs = nil
	for _, k := range doc.Keys {
		c.KeyIDs = append(c.KeyIDs, k.KID)
	}
	f.clients[c.ID] = c
	f.changes = append(f.changes, actor+" register "+c.ID)
	return c, nil
}

func (f *fakeClients) SetDisabled(_ context.Context, actor, id string, disabled bool) (admin.ClientInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clients[id]
	if !ok {
		return admin.ClientInfo{}, fmt.Errorf("fake: client %s: %w", id, gateway.ErrNotFound)
	}
	c.Disabled = disabled
	f.clients[id] = c
	f.changes = append(f.changes, fmt.Sprintf("%s disabled=%v %s", actor, disabled, id))
	return c, nil
}

func (f *fakeClients) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

// goodJWKS is a JWKS-shaped object; the fake checks only its kids.
var goodJWKS = map[string]any{"keys": []any{map[string]any{"kty": "EC", "kid": "k1"}}}

func clientBody(id, org string, scopes []string, jwks any) map[string]any {
	b := map[string]any{"orgId": org, "scopes": scopes, "jwks": jwks}
	if id != "" {
		b["id"] = id
	}
	return b
}

func TestClientsNotConfigured(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	if r := e.client().do("GET", "/admin/v1/clients", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d %s, want 401 before any word on configuration", r.status, r.body)
	}
	c := e.mustLogin("ada", admin.RoleAdmin)
	for _, req := range []struct{ method, path string }{
		{"GET", "/admin/v1/clients"},
		{"POST", "/admin/v1/clients"},
		{"GET", "/admin/v1/clients/ehr-1"},
		{"POST", "/admin/v1/clients/ehr-1/disable"},
		{"POST", "/admin/v1/clients/ehr-1/enable"},
	} {
		r := c.do(req.method, req.path, clientBody("ehr-1", "clinic-a", []string{"system/Task.rs"}, goodJWKS))
		if r.status != http.StatusNotImplemented {
			t.Fatalf("%s %s: %d %s, want 501", req.method, req.path, r.status, r.body)
		}
		if p := r.problem(t); !strings.Contains(p.Detail, "FHIR clients are not configured") {
			t.Fatalf("%s %s: problem %+v", req.method, req.path, p)
		}
	}
}

func TestClientRegistrationNamesFields(t *testing.T) {
	reg := newFakeClients()
	e := newEnvConfig(t, storetest.Behavior{}, admin.Config{Clients: reg})
	e.seed()
	c := e.mustLogin("ada", admin.RoleAdmin)
	scopes := []string{"system/Task.rs"}
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"unknown org", clientBody("", "nowhere", scopes, goodJWKS), "orgId"},
		{"org is a practitioner", clientBody("", "dr-heart", scopes, goodJWKS), "orgId"},
		{"no org", clientBody("", "", scopes, goodJWKS), "orgId"},
		{"no scopes", clientBody("", "clinic-a", nil, goodJWKS), "scopes"},
		{"two scopes in one", clientBody("", "clinic-a", []string{"system/Task.rs system/Patient.r"}, goodJWKS), "scopes[0]"},
		{"scope refused by the registry", clientBody("", "clinic-a", []string{"system/Task.rs", "patient/Task.read"}, goodJWKS), "scopes[1]"},
		{"no jwks", clientBody("", "clinic-a", scopes, nil), "jwks"},
		{"jwks not an object", clientBody("", "clinic-a", scopes, "k1"), "jwks"},
		{"jwks without keys", clientBody("", "clinic-a", scopes, map[string]any{"keys": []any{}}), "jwks"},
		{"bad id", clientBody("has space", "clinic-a", scopes, goodJWKS), "id"},
		{"unknown field", map[string]any{"orgId": "clinic-a", "scopes": scopes, "jwks": goodJWKS, "secret": "x"}, "secret"},
		{"scopes not a list", map[string]any{"orgId": "clinic-a", "scopes": "system/Task.rs", "jwks": goodJWKS}, "scopes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "/admin/v1/clients", tc.body)
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", r.status, r.body)
			}
			p := r.problem(t)
			var fields []string
			for _, fp := range p.Errors {
				fields = append(fields, fp.Field)
			}
			if !slices.Contains(fields, tc.field) {
				t.Fatalf("problem names %v, want %q: %s", fields, tc.field, r.body)
			}
		})
	}
	if got := reg.log(); len(got) != 0 {
		t.Fatalf("refused input reached the registry: %v", got)
	}
}

func TestClientRegisterListDisable(t *testing.T) {
	reg := newFakeClients()
	e := newEnvConfig(t, storetest.Behavior{}, admin.Config{Clients: reg})
	e.seed()
	c := e.mustLogin("ada", admin.RoleAdmin)

	r := c.do("POST", "/admin/v1/clients", clientBody("", "clinic-a", []string{"system/Task.rs"}, goodJWKS))
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var got admin.ClientInfo
	r.json(t, &got)
	if got.ID == "" || got.OrgID != "clinic-a" || !slices.Equal(got.KeyIDs, []string{"k1"}) || got.Disabled {
		t.Fatalf("registered %+v", got)
	}
	if loc := r.header.Get("Location"); loc != "/admin/v1/clients/"+got.ID {
		t.Fatalf("Location %q", loc)
	}

	var list struct{ Clients []admin.ClientInfo }
	c.do("GET", "/admin/v1/clients", nil).json(t, &list)
	if len(list.Clients) != 1 || list.Clients[0].ID != got.ID {
		t.Fatalf("list %+v", list)
	}

	steps := []struct {
		method, path string
		body         any
		status       int
		disabled     bool
	}{
		{"POST", "/admin/v1/clients/" + got.ID + "/disable", nil, http.StatusOK, true},
		{"GET", "/admin/v1/clients/" + got.ID, nil, http.StatusOK, true},
		// New keys for the same id replace the registration but leave it disabled.
		{"POST", "/admin/v1/clients", clientBody(got.ID, "clinic-a", []string{"system/Task.rs"}, goodJWKS), http.StatusOK, true},
		{"POST", "/admin/v1/clients/" + got.ID + "/enable", nil, http.StatusOK, false},
		{"GET", "/admin/v1/clients/" + got.ID, nil, http.StatusOK, false},
	}
	for i, st := range steps {
		r := c.do(st.method, st.path, st.body)
		if r.status != st.status {
			t.Fatalf("step %d %s %s: %d %s", i, st.method, st.path, r.status, r.body)
		}
		var ci admin.ClientInfo
		r.json(t, &ci)
		if ci.ID != got.ID || ci.Disabled != st.disabled {
			t.Fatalf("step %d: %+v, want disabled=%v", i, ci, st.disabled)
		}
	}
	for _, path := range []string{"/admin/v1/clients/nobody/disable", "/admin/v1/clients/nobody"} {
		method := "POST"
		if !strings.HasSuffix(path, "/disable") {
			method = "GET"
		}
		if r := c.do(method, path, nil); r.status != http.StatusNotFound {
			t.Fatalf("%s %s: %d %s, want 404", method, path, r.status, r.body)
		} else {
			r.problem(t)
		}
	}
	want := []string{"user:ada register " + got.ID, "user:ada disabled=true " + got.ID,
		"user:ada register " + got.ID, "user:ada disabled=false " + got.ID}
	if log := reg.log(); !slices.Equal(log, want) {
		t.Fatalf("registry changes %v, want %v", log, want)
	}
}

func TestClientRoles(t *testing.T) {
	reg := newFakeClients()
	e := newEnvConfig(t, storetest.Behavior{}, admin.Config{Clients: reg})
	e.seed()
	if _, err := reg.Register(e.ctx, "user:seed", admin.ClientInfo{ID: "ehr-1", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}},
		[]byte(`{"keys":[{"kid":"k1"}]}`)); err != nil {
		t.Fatal(err)
	}
	body := clientBody("ehr-2", "clinic-a", []string{"system/Task.rs"}, goodJWKS)
	tests := []struct {
		role                            admin.Role
		list, register, disable, enable int
	}{
		{admin.RoleAdmin, http.StatusOK, http.StatusCreated, http.StatusOK, http.StatusOK},
		{admin.RoleOperator, http.StatusOK, http.StatusForbidden, http.StatusForbidden, http.StatusForbidden},
		{admin.RoleAuditor, http.StatusOK, http.StatusForbidden, http.StatusForbidden, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(string(tc.role), func(t *testing.T) {
			c := e.mustLogin("u-"+string(tc.role), tc.role)
			for _, req := range []struct {
				method, path string
				body         any
				want         int
			}{
				{"GET", "/admin/v1/clients", nil, tc.list},
				{"POST", "/admin/v1/clients", body, tc.register},
				{"POST", "/admin/v1/clients/ehr-1/disable", nil, tc.disable},
				{"POST", "/admin/v1/clients/ehr-1/enable", nil, tc.enable},
			} {
				r := c.do(req.method, req.path, req.body)
				if r.status != req.want {
					t.Fatalf("%s %s: %d %s, want %d", req.method, req.path, r.status, r.body, req.want)
				}
				if r.status == http.StatusForbidden {
					r.problem(t)
				}
			}
		})
	}
	if n := count(e.auditActions("gateway"), "admin.refused/refused"); n != 6 {
		t.Fatalf("refusals audited %d times, want 6", n)
	}
	want := []string{"user:seed register ehr-1", "user:u-admin register ehr-2",
		"user:u-admin disabled=true ehr-1", "user:u-admin disabled=false ehr-1"}
	if log := reg.log(); !slices.Equal(log, want) {
		t.Fatalf("registry changes %v, want %v", log, want)
	}
}

func TestClientsPage(t *testing.T) {
	reg := newFakeClients()
	if _, err := reg.Register(context.Background(), "user:seed", admin.ClientInfo{ID: "ehr-1", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}},
		[]byte(`{"keys":[{"kid":"k1"}]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SetDisabled(context.Background(), "user:seed", "ehr-1", true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cfg    admin.Config
		status int
		want   []string
	}{
		{"configured", admin.Config{Clients: reg}, http.StatusOK, []string{"<th scope=\"row\">ehr-1</th>", "<code>system/Task.rs</code>", "<code>k1</code>", "disabled"}},
		{"not configured", admin.Config{}, http.StatusNotImplemented, []string{"FHIR clients are not configured"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvConfig(t, storetest.Behavior{}, tc.cfg)
			c := e.mustLogin("audrey", admin.RoleAuditor)
			r := c.do("GET", "/admin/clients", nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(r.body), w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}
