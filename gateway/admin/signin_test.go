package admin_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

func TestWeakPasswordsRefusedWithReason(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	tests := []struct{ password, reason string }{
		{"short", "at least 12 characters"},
		{"aaaaaaaaaaaa", "repeats"},
		{"password1234", "commonly used password"},
		{"qwertyuiopasdf", "commonly used password"},
		{"abcdefghijklmnop", "sequence"},
		{"ada-lovelace-ada", "account name"},
		{strings.Repeat("x7Qm", 40), "at most 128 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.password[:min(len(tc.password), 16)], func(t *testing.T) {
			_, err := e.srv.CreateAccount(e.ctx, "ada-lovelace", tc.password, admin.RoleAdmin)
			if err == nil {
				t.Fatalf("weak password %q accepted", tc.password)
			}
			if !strings.Contains(err.Error(), "password") || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q does not say %q", err, tc.reason)
			}
		})
	}
	// Over the API the reason comes back as an RFC 9457 field problem.
	c := e.mustLogin("root", admin.RoleAdmin)
	r := c.do("POST", "/admin/v1/accounts", map[string]string{"name": "oscar", "password": "password1234", "role": "operator"})
	p := r.problem(t)
	if p.Status != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "password" ||
		!strings.Contains(p.Errors[0].Reason, "commonly used password") {
		t.Fatalf("problem %+v", p)
	}
	if _, err := e.srv.CreateAccount(e.ctx, "oscar", "tundra violet quarry lamp", admin.RoleOperator); err != nil {
		t.Fatalf("strong passphrase refused: %v", err)
	}
}

// retryAfter returns a 429's Retry-After in seconds.
func retryAfter(t *testing.T, r response) int {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.status, r.body)
	}
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n <= 0 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	return n
}

func TestBruteForceFromOneAddressIsSlowed(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	attacker := e.clientFrom("127.0.0.2")
	failures, refusals := 0, 0
	var waits []int
	for len(waits) < 5 { // five delays, before the account-wide limit joins in

		r := attacker.login("ada", "guess "+strconv.Itoa(failures), e.code(secret))
		if r.status == http.StatusUnauthorized {
			failures++
			continue
		}
		wait := retryAfter(t, r)
		refusals++
		// Retrying early is refused again, with the remaining wait.
		if again := retryAfter(t, attacker.login("ada", "early", e.code(secret))); again > wait {
			t.Fatalf("early retry asked to wait %d s, more than %d", again, wait)
		}
		refusals++
		waits = append(waits, wait)
		e.clock.Advance(time.Duration(wait) * time.Second)
	}
	if failures != 5+len(waits) {
		t.Fatalf("%d password checks before and between the delays, want %d", failures, 5+len(waits))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] != 2*waits[i-1] {
			t.Fatalf("delays %v do not double", waits)
		}
	}
	// Throttled attempts never reach the password check, and their audit
	// entries are aggregated: fewer rows than attempts.
	acts := e.auditActions("gateway")
	if n := count(acts, "auth.login-failed/failure"); n != failures {
		t.Fatalf("%d failures audited, want %d", n, failures)
	}
	if n := count(acts, "auth.login-throttled/refused"); n == 0 || n >= refusals {
		t.Fatalf("%d throttle entries for %d throttled attempts; want at least one, aggregated", n, refusals)
	}
	e.chainIntact()
}

func TestStrangerCannotLockOutRealUser(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)

	// A stranger hammers the account from one address...
	stranger := e.clientFrom("127.0.0.2")
	for i := range 40 {
		stranger.login("ada", "guess "+strconv.Itoa(i), "000000")
	}
	if r := stranger.login("ada", "guess", "000000"); r.status != http.StatusTooManyRequests {
		t.Fatalf("stranger not slowed: %d", r.status)
	}
	// ...yet ada, from her own address, signs in at once, even the first time.
	if r := e.clientFrom("127.0.0.1").login("ada", "correct horse battery", e.code(secret)); r.status != http.StatusOK {
		t.Fatalf("real user after a stranger's attack: %d %s", r.status, r.body)
	}

	// Many strangers from many addresses exhaust the account-wide allowance
	// for unknown addresses; an address ada has signed in from is spared.
	throttled := false
	for i := 3; i < 40 && !throttled; i++ {
		s := e.clientFrom("127.0.0." + strconv.Itoa(i))
		for range 5 {
			if s.login("ada", "guess", "000000").status == http.StatusTooManyRequests {
				throttled = true
			}
		}
	}
	if !throttled {
		t.Fatal("a distributed guess at one account was never slowed")
	}
	e.clock.Advance(30 * time.Second) // a fresh TOTP step
	if r := e.clientFrom("127.0.0.1").login("ada", "correct horse battery", e.code(secret)); r.status != http.StatusOK {
		t.Fatalf("real user during a distributed attack: %d %s", r.status, r.body)
	}
}

func TestConcurrentLoginsEachAnsweredAndAudited(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	before := len(e.auditActions("gateway"))
	const n = 40
	code := e.code(secret)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			pw := "correct horse battery"
			if i%2 == 1 {
				pw = "wrong horse battery"
			}
			statuses[i] = e.clientFrom("127.0.1."+strconv.Itoa(i+1)).login("ada", pw, code).status
		})
	}
	wg.Wait()
	ok, throttled := 0, 0
	for i, st := range statuses {
		switch st {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests: // 40 new addresses at once exceed the account-wide allowance
			throttled++
		default:
			t.Errorf("login %d: status %d, want 200, 401 or 429", i, st)
		}
	}
	// One code opens one session: the others reusing it are refused.
	if ok != 1 {
		t.Fatalf("%d logins succeeded with one TOTP code, want 1", ok)
	}
	// Every attempt is in the trail: a check as its own entry, a throttled
	// attempt as the first of its address's aggregate.
	acts := e.auditActions("gateway")[before:]
	if c := count(acts, "auth.login-throttled/refused"); c != throttled {
		t.Fatalf("%d throttled attempts, %d audited", throttled, c)
	}
	if len(acts) != n {
		t.Fatalf("%d audit entries for %d attempts: %v", len(acts), n, acts)
	}
	if c := count(acts, "auth.login/success"); c != 1 {
		t.Fatalf("%d successes audited", c)
	}
	e.chainIntact()
}

func TestAbsoluteSessionLifetime(t *testing.T) {
	e := newEnvConfig(t, storetest.Behavior{}, admin.Config{SessionMax: time.Hour})
	c := e.mustLogin("ada", admin.RoleAdmin)
	for range 5 { // busy all along: the idle timer never runs out
		e.clock.Advance(10 * time.Minute)
		if r := c.do("GET", "/admin/v1/session", nil); r.status != http.StatusOK {
			t.Fatalf("active session refused early: %d", r.status)
		}
	}
	e.clock.Advance(10 * time.Minute)
	if r := c.do("GET", "/admin/v1/session", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("session older than SessionMax: status %d, want 401", r.status)
	}
}

func TestSessionCookieSecureOverTLS(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	tlsSrv := httptest.NewTLSServer(e.ts.Config.Handler)
	t.Cleanup(tlsSrv.Close)
	body := `{"name":"ada","password":"correct horse battery","code":"` + e.code(secret) + `"}`
	resp, err := tlsSrv.Client().Post(tlsSrv.URL+"/admin/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("login over TLS: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if ck := resp.Cookies()[0]; !ck.Secure || !ck.HttpOnly {
		t.Fatalf("session cookie over TLS lacks Secure: %+v", ck)
	}
}
