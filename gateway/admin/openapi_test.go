package admin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/storetest"
)

// apiDoc is the parts of the OpenAPI document the tests read.
type apiDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Responses map[string]struct {
			Content map[string]json.RawMessage `json:"content"`
		} `json:"responses"`
	} `json:"paths"`
}

func loadAPIDoc(t *testing.T, body []byte) (apiDoc, *jsonschema.Compiler) {
	t.Helper()
	var d apiDoc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if d.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", d.OpenAPI)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem://openapi.json", raw); err != nil {
		t.Fatal(err)
	}
	return d, c
}

// TestOpenAPIDocumentsEveryRoute holds the document to the handlers'
// source: each route registered under /admin/v1 is documented with its
// method, and each documented operation is registered.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	body, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := loadAPIDoc(t, body)
	var documented []string
	for p, ops := range d.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	route := regexp.MustCompile(`HandleFunc\("(GET|POST|PUT|PATCH|DELETE) (/admin/v1/[^"]*)"`)
	files, _ := filepath.Glob("*.go")
	var registered []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range route.FindAllStringSubmatch(string(src), -1) {
			registered = append(registered, m[1]+" "+strings.TrimSuffix(m[2], "{$}"))
		}
	}
	sort.Strings(documented)
	sort.Strings(registered)
	if len(registered) < 20 || !slices.Equal(documented, registered) {
		t.Fatalf("documented and registered routes differ:\ndocumented: %v\nregistered: %v", documented, registered)
	}
}

// TestOpenAPIMatchesHandlers calls every operation on a live server and
// checks that the answer's status is one the document lists for it, with
// the documented content type, and that its body validates against the
// documented schema.
func TestOpenAPIMatchesHandlers(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	anon := e.client()
	r := anon.do("GET", "/admin/v1/openapi.json", nil)
	if r.status != http.StatusOK {
		t.Fatalf("openapi.json: %d", r.status)
	}
	doc, compiler := loadAPIDoc(t, r.body)
	e.seed()
	ref := e.referral("cardio-b", true)
	c := e.mustLogin("ada", "admin")

	seen := map[string]bool{}
	check := func(cl *client, method, template, path string, body any, headers ...string) {
		t.Helper()
		op, ok := doc.Paths[template][strings.ToLower(method)]
		if !ok {
			t.Fatalf("%s %s is not documented", method, template)
		}
		seen[method+" "+template] = true
		r := cl.do(method, path, body, headers...)
		resp, ok := op.Responses[strconv.Itoa(r.status)]
		if !ok {
			t.Errorf("%s %s answered %d, not documented: %s", method, path, r.status, r.body)
			return
		}
		if len(resp.Content) == 0 {
			if len(r.body) > 0 {
				t.Errorf("%s %s: %d has a body the document does not describe", method, path, r.status)
			}
			return
		}
		ct := r.header.Get("Content-Type")
		if _, ok := resp.Content[ct]; !ok {
			t.Errorf("%s %s: %d with content type %q, documented %v", method, path, r.status, ct, keys(resp.Content))
			return
		}
		ptr := "mem://openapi.json#/paths/" + escape(template) + "/" + strings.ToLower(method) + "/responses/" +
			strconv.Itoa(r.status) + "/content/" + escape(ct) + "/schema"
		sch, err := compiler.Compile(ptr)
		if err != nil {
			t.Fatalf("compile %s: %v", ptr, err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.body))
		if err != nil {
			t.Errorf("%s %s: body is not JSON: %s", method, path, r.body)
			return
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s %s: %d body does not match the document: %v\n%s", method, path, r.status, err, r.body)
		}
	}

	check(anon, "GET", "/admin/v1/openapi.json", "/admin/v1/openapi.json", nil)
	check(anon, "GET", "/admin/v1/", "/admin/v1/", nil)
	check(anon, "POST", "/admin/v1/login", "/admin/v1/login", map[string]string{"name": "ada", "password": "wrong password!", "code": "000000"})
	check(anon, "GET", "/admin/v1/session", "/admin/v1/session", nil)
	check(c, "GET", "/admin/v1/session", "/admin/v1/session", nil)
	check(c, "POST", "/admin/v1/accounts", "/admin/v1/accounts", map[string]string{"name": "bob"})
	check(c, "GET", "/admin/v1/entries", "/admin/v1/entries?limit=2", nil)
	check(c, "POST", "/admin/v1/entries", "/admin/v1/entries", map[string]any{"id": "derm-x", "kind": "organization", "name": "Synthetic Dermatology"})
	check(c, "POST", "/admin/v1/entries/import", "/admin/v1/entries/import?format=bogus", nil)
	check(c, "GET", "/admin/v1/entries/{id}", "/admin/v1/entries/cardio-b", nil)
	check(c, "GET", "/admin/v1/entries/{id}", "/admin/v1/entries/nobody", nil)
	check(c, "PUT", "/admin/v1/entries/{id}", "/admin/v1/entries/derm-x", map[string]any{"id": "derm-x", "kind": "organization", "name": "Renamed"}, "If-Match", `"1"`)
	check(c, "PUT", "/admin/v1/entries/{id}", "/admin/v1/entries/derm-x", map[string]any{"id": "derm-x", "kind": "organization", "name": "Stale"}, "If-Match", `"1"`)
	check(c, "POST", "/admin/v1/entries/{id}/verify", "/admin/v1/entries/derm-x/verify", map[string]string{"method": "phone call"})
	check(c, "GET", "/admin/v1/directory/checks", "/admin/v1/directory/checks", nil)
	check(c, "POST", "/admin/v1/directory/checks", "/admin/v1/directory/checks", nil)
	check(anon, "POST", "/admin/v1/directory/checks", "/admin/v1/directory/checks", nil)
	check(c, "GET", "/admin/v1/baas", "/admin/v1/baas", nil)
	check(c, "POST", "/admin/v1/baas/{partyId}/transition", "/admin/v1/baas/derm-x/transition", map[string]string{"state": "sent"})
	check(c, "POST", "/admin/v1/baas/{partyId}/transition", "/admin/v1/baas/derm-x/transition", map[string]string{"state": "bogus"})
	check(c, "GET", "/admin/v1/referrals", "/admin/v1/referrals", nil)
	// A practice's account sees its referrals.
	pc := e.mustLoginPractice("clinic-a", "pat", "operator")
	check(pc, "GET", "/admin/v1/referrals", "/admin/v1/referrals", nil)
	check(pc, "GET", "/admin/v1/referrals/{id}/timeline", "/admin/v1/referrals/"+ref.ID+"/timeline", nil)
	check(pc, "GET", "/admin/v1/referrals/{id}/receipt", "/admin/v1/referrals/"+ref.ID+"/receipt", nil)
	check(c, "GET", "/admin/v1/referrals", "/admin/v1/referrals?status=nonsense", nil)
	check(c, "GET", "/admin/v1/referrals/{id}/timeline", "/admin/v1/referrals/"+ref.ID+"/timeline", nil)
	check(c, "GET", "/admin/v1/referrals/{id}/receipt", "/admin/v1/referrals/"+ref.ID+"/receipt", nil)
	check(c, "POST", "/admin/v1/referrals/{id}/reverse", "/admin/v1/referrals/"+ref.ID+"/reverse", map[string]any{})
	check(c, "GET", "/admin/v1/reports/referrals", "/admin/v1/reports/referrals?practice=clinic-a", nil)
	check(c, "GET", "/admin/v1/audit/verify", "/admin/v1/audit/verify", nil)
	check(c, "GET", "/admin/v1/health", "/admin/v1/health", nil)
	check(c, "GET", "/admin/v1/clients", "/admin/v1/clients", nil)
	check(c, "POST", "/admin/v1/clients", "/admin/v1/clients", map[string]any{"orgId": "cardio-b"})
	check(c, "GET", "/admin/v1/clients/{id}", "/admin/v1/clients/nope", nil)
	check(c, "POST", "/admin/v1/clients/{id}/disable", "/admin/v1/clients/nope/disable", nil)
	check(c, "POST", "/admin/v1/clients/{id}/enable", "/admin/v1/clients/nope/enable", nil)
	// The inbox: a received message that processing quarantined.
	m, _, err := e.svc.ReceiveInbound(e.ctx, gateway.NewInbound{Channel: gateway.ChannelDirect, MailFrom: "x@direct.other.example",
		RcptTo: []string{"nobody@direct.nowhere.example"}, Raw: []byte("synthetic")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApplyInbound(e.ctx, m.ID, gateway.InboundOutcome{State: gateway.InboundQuarantined, Reason: "unsigned"}); err != nil {
		t.Fatal(err)
	}
	check(c, "GET", "/admin/v1/inbox", "/admin/v1/inbox", nil)
	check(c, "GET", "/admin/v1/inbox", "/admin/v1/inbox?state=bogus", nil)
	check(c, "GET", "/admin/v1/inbox/{id}", "/admin/v1/inbox/"+m.ID, nil)
	check(c, "GET", "/admin/v1/inbox/{id}", "/admin/v1/inbox/nope", nil)
	check(c, "POST", "/admin/v1/inbox/{id}/reject", "/admin/v1/inbox/"+m.ID+"/reject", map[string]string{"reason": ""})
	check(c, "POST", "/admin/v1/inbox/{id}/reject", "/admin/v1/inbox/"+m.ID+"/reject", map[string]string{"reason": "unknown sender"})
	check(c, "POST", "/admin/v1/inbox/{id}/release", "/admin/v1/inbox/"+m.ID+"/release", map[string]string{"reason": "too late"})
	check(c, "POST", "/admin/v1/logout", "/admin/v1/logout", nil)

	for p, ops := range doc.Paths {
		for m := range ops {
			if !seen[strings.ToUpper(m)+" "+p] {
				t.Errorf("%s %s is documented but not exercised", strings.ToUpper(m), p)
			}
		}
	}
}

// escape is a JSON pointer token.
func escape(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
