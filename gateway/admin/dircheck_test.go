package admin_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// checkRequests lists the actors of the audited requests for a directory
// check round.
func (e *env) checkRequests() []string {
	e.t.Helper()
	var out []string
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: "directory"}) {
		if err != nil {
			e.t.Fatal(err)
		}
		if en.Action == "directory.check-requested" && en.Outcome == "success" {
			out = append(out, en.Actor+" "+en.Detail["why"])
		}
	}
	return out
}

// TestDirectoryChecksAPI: over a real listener, an operator asks for a
// directory check round (202, audited as theirs) and follows it with GET
// until it has finished, with its counts and the entries whose check
// failed; a request without the CSRF token, from an auditor or from a
// practice's account is refused (403, audited) and queues nothing.
func TestDirectoryChecksAPI(t *testing.T) {
	e := newEnv(t, storetest.Behavior{Check: gateway.CheckFailed, CheckReason: "metadata: receiver refused with 404"})
	e.seed()
	if r := e.client().do("GET", "/admin/v1/directory/checks", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous GET: %d", r.status)
	}
	c := e.mustLogin("oscar", admin.RoleOperator)
	var st gateway.DirectoryRound
	if r := c.do("GET", "/admin/v1/directory/checks", nil); r.status != http.StatusOK {
		t.Fatalf("GET before any round: %d %s", r.status, r.body)
	} else if r.json(t, &st); st.Round != 0 || st.Finished || st.Serving {
		t.Fatalf("before any round: %+v", st)
	}

	noCSRF := *c
	noCSRF.csrf = ""
	if r := noCSRF.do("POST", "/admin/v1/directory/checks", nil); r.status != http.StatusForbidden {
		t.Fatalf("POST without the CSRF token: %d", r.status)
	}
	auditor := e.mustLogin("audrey", admin.RoleAuditor)
	if r := auditor.do("POST", "/admin/v1/directory/checks", nil); r.status != http.StatusForbidden {
		t.Fatalf("auditor POST: %d", r.status)
	}
	practice := e.mustLoginPractice("clinic-a", "pat", admin.RoleOperator)
	if r := practice.do("POST", "/admin/v1/directory/checks", nil); r.status != http.StatusForbidden || !strings.Contains(r.problem(t).Detail, "gateway-wide") {
		t.Fatalf("practice POST: %d %s", r.status, r.body)
	}
	if got := e.checkRequests(); len(got) != 0 {
		t.Fatalf("refused requests were recorded: %v", got)
	}
	if n := count(e.auditActions("gateway"), "admin.refused/refused") + count(e.auditActions("gateway"), "admin.csrf-refused/refused"); n < 2 {
		t.Fatalf("refusals audited %d times, want at least the CSRF and the auditor's", n)
	}

	r := c.do("POST", "/admin/v1/directory/checks", nil)
	var req admin.CheckRequested
	if r.status != http.StatusAccepted || r.header.Get("Location") != "/admin/v1/directory/checks" {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	if r.json(t, &req); req.After != 0 || req.Status == nil || req.Status.RoundsWaiting != 1 {
		t.Fatalf("POST answered %+v, want after 0 and the round waiting", req)
	}
	if got := e.checkRequests(); !slices.Equal(got, []string{"user:oscar asked"}) {
		t.Fatalf("audited requests %v, want oscar's", got)
	}

	e.startWorkers()
	e.waitFor("the requested round finished", func() bool {
		c.do("GET", "/admin/v1/directory/checks", nil).json(t, &st)
		return st.Round > req.After && st.Finished
	})
	if st.Entries != 2 || st.Checked != 2 || st.Failed != 2 || !slices.Equal(st.FailedEntries, []string{"cardio-b", "dr-heart"}) ||
		st.FinishedAt.Before(st.Started) || !st.Serving {
		t.Fatalf("finished round: %+v", st)
	}
}

// TestDirectoryChecksConsole: the health page shows the newest check round
// and, to those who may change the directory, a button that asks for one
// (its form carries the CSRF token; without it nothing is queued); the
// page then follows the round to its end.
func TestDirectoryChecksConsole(t *testing.T) {
	e := newEnv(t, storetest.Behavior{Check: gateway.CheckFailed, CheckReason: "metadata: receiver refused with 404"})
	e.seed()
	auditor, _ := e.consoleLogin("audrey", admin.RoleAuditor)
	if p := auditor.page("GET", "/admin/health", nil); p.status != http.StatusOK || !strings.Contains(p.html, "No check round has run yet") ||
		strings.Contains(p.html, "Check every entry now") {
		t.Fatalf("auditor's health page: %d, want the round status without the button:\n%s", p.status, p.html)
	}
	c, csrf := e.consoleLogin("ada", admin.RoleAdmin)
	p := c.page("GET", "/admin/health", nil)
	if p.status != http.StatusOK || !strings.Contains(p.html, `action="/admin/health/checks"`) || !strings.Contains(p.html, "Check every entry now") {
		t.Fatalf("admin's health page: %d, want the button:\n%s", p.status, p.html)
	}
	if p := c.page("POST", "/admin/health/checks", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("POST without the CSRF token: %d", p.status)
	}
	if p := auditor.page("POST", "/admin/health/checks", url.Values{"csrf": {csrf}}); p.status != http.StatusForbidden {
		t.Fatalf("auditor POST: %d", p.status)
	}
	if got := e.checkRequests(); len(got) != 0 {
		t.Fatalf("refused requests were recorded: %v", got)
	}
	p = c.page("POST", "/admin/health/checks", url.Values{"csrf": {csrf}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/admin/health?notice=") {
		t.Fatalf("POST: %d → %q", p.status, p.location)
	}
	if p := c.page("GET", p.location, nil); !strings.Contains(p.html, "Check requested: round 1 or later") || !strings.Contains(p.html, "A round is queued") {
		t.Fatalf("after the request:\n%s", p.html)
	}
	if got := e.checkRequests(); !slices.Equal(got, []string{"user:ada asked"}) {
		t.Fatalf("audited requests %v, want ada's", got)
	}
	e.startWorkers()
	e.waitFor("the health page shows the finished round", func() bool {
		p = c.page("GET", "/admin/health", nil)
		return strings.Contains(p.html, "Round 1, finished")
	})
	if !strings.Contains(p.html, "2 queued, 2 checked: 0 ok, 2 failed") || !strings.Contains(p.html, `href="/admin/directory/cardio-b#checks"`) {
		t.Fatalf("finished round on the health page:\n%s", p.html)
	}
}
