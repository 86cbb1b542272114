package admin_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

func TestLogin(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	wrongCode := func() string { // a code valid for none of the three accepted steps
		valid := map[string]bool{}
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			c, _ := totp.GenerateCode(secret, e.clock.Now().Add(d))
			valid[c] = true
		}
		for _, c := range []string{"000000", "111111", "222222", "333333"} {
			if !valid[c] {
				return c
			}
		}
		return "999999"
	}
	tests := []struct {
		name       string
		user, pass string
		code       func() string
		want       int
		reason     string // audited failure reason; "" for success
	}{
		{"valid", "ada", "correct horse battery", func() string { return e.code(secret) }, http.StatusOK, ""},
		{"reused code in its window", "ada", "correct horse battery", func() string { return e.code(secret) }, http.StatusUnauthorized, "totp-reused"},
		{"wrong code", "ada", "correct horse battery", wrongCode, http.StatusUnauthorized, "totp"},
		{"wrong password", "ada", "incorrect horse battery", func() string { return e.code(secret) }, http.StatusUnauthorized, "password"},
		{"unknown account", "bob", "correct horse battery", func() string { return e.code(secret) }, http.StatusUnauthorized, "unknown-account"},
		{"code of the previous step after 30 s", "ada", "correct horse battery", func() string {
			c := e.code(secret)
			e.clock.Advance(30 * time.Second)
			return c // one step old is within ±1, but this step was used by the first login
		}, http.StatusUnauthorized, "totp-reused"},
		{"code of the next step", "ada", "correct horse battery", func() string {
			e.clock.Advance(30 * time.Second)
			c := e.code(secret)
			e.clock.Advance(-30 * time.Second)
			return c
		}, http.StatusOK, ""},
		{"code two steps old", "ada", "correct horse battery", func() string {
			c := e.code(secret)
			e.clock.Advance(90 * time.Second)
			return c
		}, http.StatusUnauthorized, "totp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.auditActions("gateway")
			c := e.client()
			r := c.login(tc.user, tc.pass, tc.code())
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			after := e.auditActions("gateway")
			if len(after) != len(before)+1 {
				t.Fatalf("audit entries %d → %d, want one more", len(before), len(after))
			}
			last := after[len(after)-1]
			if tc.reason == "" {
				if last != "auth.login/success" {
					t.Fatalf("audited %s, want auth.login/success", last)
				}
				if r := c.do("GET", "/admin/v1/session", nil); r.status != http.StatusOK {
					t.Fatalf("session after login: %d", r.status)
				}
				return
			}
			if tc.reason == "unknown-account" {
				// A name nobody holds is edge noise: aggregated, escaped, refused.
				en := e.lastAudit("gateway")
				if last != "auth.login-failed/refused" || en.Detail["reason"] != tc.reason || en.Detail["text"] != strconv.Quote(tc.user) || en.Detail["count"] != "1" {
					t.Fatalf("audited %s %v, want an edge entry for %q", last, en.Detail, tc.user)
				}
			} else if last != "auth.login-failed/failure" {
				t.Fatalf("audited %s, want auth.login-failed/failure", last)
			} else if en := e.lastAudit("gateway"); en.Detail["reason"] != tc.reason || en.Detail["account"] != tc.user {
				t.Fatalf("audited detail %v, want reason %s for %s", en.Detail, tc.reason, tc.user)
			}
			// Every failure reads the same to the client; only the trail knows why.
			p := r.problem(t)
			if p.Status != http.StatusUnauthorized || p.Detail != "name, password or code is wrong" {
				t.Fatalf("problem %+v", p)
			}
		})
	}
	e.chainIntact()
}

func TestLoginAuditsReasonWithoutSecrets(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	code := e.code(secret)
	e.client().login("ada", "a wrong password!", code)
	var found bool
	for en, err := range e.store.AuditEntries(e.ctx, auditQuery("gateway")) {
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range en.Detail {
			if strings.Contains(v, "wrong password") || strings.Contains(v, code) || strings.Contains(v, secret) {
				t.Fatalf("audit detail %s=%q carries a credential", k, v)
			}
		}
		if en.Action == "auth.login-failed" && en.Detail["reason"] == "password" && en.Detail["account"] == "ada" {
			found = true
		}
	}
	if !found {
		t.Fatal("the failed login is not audited with its reason")
	}
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	c := e.mustLogin("ada", admin.RoleAdmin)
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{10 * time.Minute, http.StatusOK}, // activity refreshes the idle timer
		{10 * time.Minute, http.StatusOK},
		{15*time.Minute + time.Second, http.StatusUnauthorized},
		{0, http.StatusUnauthorized}, // the expired session is gone for good
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		r := c.do("GET", "/admin/v1/session", nil)
		if r.status != s.want {
			t.Fatalf("step %d (+%v): status %d, want %d", i, s.advance, r.status, s.want)
		}
		if s.want == http.StatusUnauthorized {
			if p := r.problem(t); p.Status != http.StatusUnauthorized {
				t.Fatalf("problem status %d", p.Status)
			}
		}
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	c := e.mustLogin("ada", admin.RoleAdmin)
	if r := c.do("POST", "/admin/v1/logout", nil); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/admin/v1/session", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", r.status)
	}
}

func TestSessionCookie(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	r := e.client().login("ada", "correct horse battery", e.code(secret))
	cookies := (&http.Response{Header: r.header}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	ck := cookies[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/admin/" {
		t.Fatalf("cookie attributes: %+v", ck)
	}
	if len(ck.Value) != 43 { // 32 random bytes, base64url without padding
		t.Fatalf("cookie value length %d, want 43 (256 bits)", len(ck.Value))
	}
}

func TestCreateAccountValidation(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	tests := []struct {
		name, account, password string
		role                    admin.Role
		field                   string
	}{
		{"bad name", "Ada Lovelace", "correct horse battery", admin.RoleAdmin, "name"},
		{"short password", "ada", "short", admin.RoleAdmin, "password"},
		{"unknown role", "ada", "correct horse battery", "root", "role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.srv.CreateAccount(e.ctx, tc.account, tc.password, tc.role)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
	e.account("ada", "correct horse battery", admin.RoleAuditor)
	if _, err := e.srv.CreateAccount(e.ctx, "ada", "correct horse battery", admin.RoleAdmin); err == nil {
		t.Fatal("a second account with the same name was created")
	}
}

func TestBootstrapAdmin(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	uri, err := admin.BootstrapAdmin(e.ctx, e.svc, "root-admin", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "period=30") || !strings.Contains(uri, "digits=6") {
		t.Fatalf("TOTP URI %q", uri)
	}
	if n := count(e.auditActions("gateway"), "admin.account-created/success"); n != 1 {
		t.Fatalf("account creation audited %d times", n)
	}
}

func auditQuery(tenant string) gateway.AuditQuery { return gateway.AuditQuery{Tenant: tenant} }

func TestAPILoginNeedsJSON(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	body := `{"name":"ada","password":"correct horse battery","code":"` + e.code(secret) + `"}`
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		req, _ := http.NewRequestWithContext(e.ctx, "POST", e.ts.URL+"/admin/v1/login", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType || len(resp.Cookies()) != 0 {
			t.Fatalf("login as %q: %d, cookies %v", ct, resp.StatusCode, resp.Cookies())
		}
	}
	if r := e.client().login("ada", "correct horse battery", e.code(secret)); r.status != http.StatusOK {
		t.Fatalf("JSON login: %d", r.status)
	}
}
