package admin_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// page is a console answer.
type page struct {
	status   int
	location string
	html     string
}

// get fetches a console page.
func (c *client) page(method, path string, form url.Values) page {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(c.e.ctx, method, c.e.ts.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), html: string(b)}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleLogin logs in through the login form and returns the CSRF token
// the console's pages carry.
func (e *env) consoleLogin(name string, role admin.Role) (*client, string) {
	e.t.Helper()
	return e.consoleLoginAs(e.account(name, "correct horse battery", role), name)
}

// consoleLoginAs logs in to the console as an existing account.
func (e *env) consoleLoginAs(secret, name string) (*client, string) {
	e.t.Helper()
	c := e.client()
	p := c.page("POST", "/admin/login", url.Values{"csrf": {c.loginToken()}, "name": {name}, "password": {"correct horse battery"}, "code": {e.code(secret)}})
	if p.status != http.StatusSeeOther || p.location != "/admin/directory" {
		e.t.Fatalf("console login: %d → %q", p.status, p.location)
	}
	d := c.page("GET", "/admin/directory", nil)
	m := csrfInput.FindStringSubmatch(d.html)
	if m == nil {
		e.t.Fatalf("no CSRF token on the directory page")
	}
	return c, m[1]
}

// loginToken opens the login page and returns its anti-forgery token.
func (c *client) loginToken() string {
	c.e.t.Helper()
	p := c.page("GET", "/admin/login", nil)
	m := csrfInput.FindStringSubmatch(p.html)
	if p.status != http.StatusOK || m == nil {
		c.e.t.Fatalf("login page: %d, token %v", p.status, m)
	}
	return m[1]
}

func TestConsoleLoginForm(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	c := e.client()
	if p := c.page("GET", "/admin/directory", nil); p.status != http.StatusSeeOther || p.location != "/admin/login" {
		t.Fatalf("unauthenticated: %d → %q", p.status, p.location)
	}
	login := c.page("GET", "/admin/login", nil)
	for _, want := range []string{`<html lang="en">`, `<label for="name">`, `<label for="password">`, `<label for="code">`, `autocomplete="one-time-code"`} {
		if !strings.Contains(login.html, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	// Without the login form's token (a post from another site) nothing is checked.
	p := c.page("POST", "/admin/login", url.Values{"name": {"ada"}, "password": {"correct horse battery"}, "code": {e.code(secret)}})
	if p.status != http.StatusForbidden {
		t.Fatalf("login without token: %d", p.status)
	}
	if n := len(e.auditActions("gateway")); n != 1 { // only the account creation
		t.Fatalf("a forged login reached authentication: %v", e.auditActions("gateway"))
	}
	p = c.page("POST", "/admin/login", url.Values{"csrf": {c.loginToken()}, "name": {"ada"}, "password": {"wrong password here"}, "code": {e.code(secret)}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.html, `role="alert"`) || strings.Contains(p.html, "wrong password here") {
		t.Fatalf("failed login page: %d %s", p.status, p.html)
	}
	if !strings.Contains(p.html, `value="ada"`) {
		t.Error("the failed login form forgets the account name")
	}
	p = c.page("POST", "/admin/login", url.Values{"csrf": {c.loginToken()}, "name": {"ada"}, "password": {"correct horse battery"}, "code": {e.code(secret)}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("login: %d", p.status)
	}
	if p := c.page("GET", "/admin/directory", nil); p.status != http.StatusOK {
		t.Fatalf("after login: %d", p.status)
	}
}

func TestConsoleFormsNeedCSRF(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	c, csrf := e.consoleLogin("ada", admin.RoleAdmin)
	form := func(token string) url.Values {
		return url.Values{"csrf": {token}, "id": {"derm-f"}, "kind": {"organization"}, "name": {"Synthetic Derm"}, "direct.address": {"a@direct.derm-f.example"}}
	}
	tests := []struct {
		name, path string
		form       url.Values
	}{
		{"add entry without token", "/admin/directory/new", form("")},
		{"add entry with a wrong token", "/admin/directory/new", form("forged")},
		{"BAA without token", "/admin/baas/clinic-a", url.Values{"state": {"draft"}}},
		{"verify without token", "/admin/directory/clinic-a/verify", url.Values{"method": {"phone"}}},
		{"logout without token", "/admin/logout", url.Values{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p := c.page("POST", tc.path, tc.form); p.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", p.status)
			}
		})
	}
	if _, err := e.svc.Entry(e.ctx, "derm-f"); err == nil {
		t.Fatal("entry created without CSRF token")
	}
	if n := count(e.auditActions("gateway"), "admin.csrf-refused/refused"); n != len(tests) {
		t.Fatalf("%d CSRF refusals audited, want %d", n, len(tests))
	}
	if p := c.page("POST", "/admin/directory/new", form(csrf)); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/admin/directory/derm-f") {
		t.Fatalf("with token: %d → %s", p.status, p.location)
	}
}

func TestConsoleFieldErrors(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	c, csrf := e.consoleLogin("oscar", admin.RoleOperator)
	p := c.page("POST", "/admin/directory/new", url.Values{"csrf": {csrf}, "id": {"derm-g"}, "kind": {"organization"},
		"name": {"Synthetic Derm"}, "npi": {"1234567890"}, "fax.number": {"555"}})
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", p.status)
	}
	for _, want := range []string{`id="npi" name="npi" type="text" value="1234567890" aria-invalid="true"`, `id="npi-error"`,
		`id="fax.number-error"`, "not a valid NPI", `role="alert"`} {
		if !strings.Contains(p.html, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	// A stale version is refused with a message, not overwritten.
	edit := url.Values{"csrf": {csrf}, "kind": {"organization"}, "name": {"Synthetic Family Clinic 2"}, "npi": {"1234567893"}, "version": {"1"}}
	if p := c.page("POST", "/admin/directory/clinic-a", edit); p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d", p.status)
	}
	p = c.page("POST", "/admin/directory/clinic-a", edit)
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.html, "someone changed this entry") {
		t.Fatalf("stale edit: %d", p.status)
	}
	// An illegal BAA transition names the rule and is audited.
	p = c.page("POST", "/admin/baas/clinic-a", url.Values{"csrf": {csrf}, "state": {"expired"}})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.html, "set the end date instead") {
		t.Fatalf("illegal BAA transition: %d", p.status)
	}
	if n := count(e.auditActions("clinic-a"), "baa.transition-refused/refused"); n != 1 {
		t.Fatalf("refusal audited %d times", n)
	}
}

func TestConsoleAuditorReadsOnly(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	ref := e.referral("dr-heart", false)
	c, csrf := e.consoleLoginAs(e.practiceAccount("clinic-a", "audrey", "correct horse battery", admin.RoleAuditor), "audrey")
	for _, path := range []string{"/admin/directory", "/admin/directory/clinic-a", "/admin/baas", "/admin/referrals",
		"/admin/referrals/" + ref.ID, "/admin/audit", "/admin/health"} {
		p := c.page("GET", path, nil)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", path, p.status)
		}
		for _, want := range []string{`<html lang="en">`, `<h1>`, `aria-current="page"`, `<th scope="col">`} {
			if !strings.Contains(p.html, want) && !(want == `<th scope="col">` && path == "/admin/directory/clinic-a") {
				t.Errorf("%s lacks %s", path, want)
			}
		}
		for _, phi := range []string{"Testpatient", "MRN-0001", "Atrial fibrillation"} {
			if strings.Contains(p.html, phi) {
				t.Errorf("%s shows PHI %q", path, phi)
			}
		}
		if strings.Contains(p.html, "Apply</button>") || strings.Contains(p.html, "Add an entry") || strings.Contains(p.html, "Mark verified") {
			t.Errorf("%s offers a change to an auditor", path)
		}
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/admin/directory/new"},
		{"POST", "/admin/directory/clinic-a"},
		{"POST", "/admin/baas/clinic-a"},
	} {
		p := c.page(tc.method, tc.path, url.Values{"csrf": {csrf}, "state": {"draft"}, "kind": {"organization"}, "name": {"x"}})
		if p.status != http.StatusForbidden || !strings.Contains(p.html, "auditor") {
			t.Fatalf("%s %s: %d", tc.method, tc.path, p.status)
		}
	}
	if b, _ := e.svc.BAAs(e.ctx); len(b) != 1 {
		t.Fatalf("auditor changed BAAs: %+v", b)
	}
	if en, _ := e.svc.Entry(e.ctx, "clinic-a"); en.Name != "Synthetic Family Clinic" {
		t.Fatalf("auditor renamed clinic-a to %q", en.Name)
	}
	if p := c.page("GET", "/admin/static/console.css", nil); p.status != http.StatusOK || !strings.Contains(p.html, ":focus-visible") {
		t.Fatalf("stylesheet: %d", p.status)
	}
	if p := c.page("GET", "/admin/nowhere", nil); p.status != http.StatusNotFound {
		t.Fatalf("unknown page: %d", p.status)
	}
}
