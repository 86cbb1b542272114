package admin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// env is one test's gateway with the admin server on a real listener.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  gateway.Store
	svc    *gateway.Service
	clock  *storetest.ManualClock
	fhir   *storetest.RecordingChannel
	srv    *admin.Server
	ts     *httptest.Server
	seeder gateway.Actor
}

func newEnv(t *testing.T, fhir storetest.Behavior) *env {
	t.Helper()
	return newEnvConfig(t, fhir, admin.Config{})
}

// newEnvConfig is newEnv with cfg's optional parts (Clients) set; its
// Clock and Logger are the test's.
func newEnvConfig(t *testing.T, fhir storetest.Behavior, cfg admin.Config) *env {
	t.Helper()
	store, err := litestore.Open(t.Context(), filepath.Join(t.TempDir(), "gateway.db"), storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newEnvStore(t, fhir, cfg, store)
}

// newEnvStore is newEnvConfig over a store the test opened.
func newEnvStore(t *testing.T, fhir storetest.Behavior, cfg admin.Config, store gateway.Store) *env {
	t.Helper()
	ctx := t.Context()
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := gateway.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, store: store, clock: storetest.NewManualClock(time.Now().UTC().Truncate(time.Second)),
		fhir: storetest.NewRecordingChannel(gateway.ChannelFHIR, fhir), seeder: gateway.Actor{ID: "user:seed"}}
	e.svc = gateway.NewService(store, sealer, e.clock, gateway.DefaultConfig(), nil, e.fhir)
	cfg.Clock, cfg.Logger = e.clock, slog.New(slog.NewTextHandler(failOnLog{t}, nil))
	e.srv = admin.New(e.svc, cfg)
	mux := http.NewServeMux()
	mux.Handle("/admin/", e.srv)
	e.ts = httptest.NewServer(mux)
	t.Cleanup(e.ts.Close)
	return e
}

// failOnLog fails the test when the server logs an error: every error a
// test provokes is expected to be answered, not logged as internal.
type failOnLog struct{ t *testing.T }

func (f failOnLog) Write(p []byte) (int, error) {
	f.t.Errorf("server logged: %s", p)
	return len(p), nil
}

// seed creates a referring clinic and a verified cardiology practice on the
// platform under an active BAA, with one practitioner (all synthetic).
func (e *env) seed() {
	e.t.Helper()
	for _, en := range []*gateway.Entry{
		{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic", NPI: "1234567893"},
		{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology", OnPlatform: true,
			FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr.cardio-b.example/fhir"}},
		{ID: "dr-heart", Kind: gateway.KindPractitioner, Name: "Dr. Test Heart", ParentID: "cardio-b", OnPlatform: true,
			FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr.cardio-b.example/fhir"}},
	} {
		if _, err := e.svc.PutEntry(e.ctx, e.seeder, en); err != nil {
			e.t.Fatalf("seed %s: %v", en.ID, err)
		}
	}
	if _, err := e.svc.VerifyEntry(e.ctx, e.seeder, "cardio-b", "phone call"); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.SetBAA(e.ctx, e.seeder, gateway.BAAChange{PartyID: "cardio-b", State: gateway.BAAActive, End: e.clock.Now().AddDate(1, 0, 0)}); err != nil {
		e.t.Fatal(err)
	}
}

// referral creates a synthetic treatment referral from clinic-a to receiver.
func (e *env) referral(receiver string, submit bool) *gateway.Referral {
	e.t.Helper()
	r, err := e.svc.CreateReferral(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, gateway.NewReferral{
		Requester:  gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary", NPI: "1234567893"},
		ReceiverID: receiver,
		Patient:    gateway.Patient{ID: "MRN-0001", FamilyName: "Testpatient", GivenName: "Alex", BirthDate: "1970-01-01"},
		Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "49436004", Display: "Atrial fibrillation"},
		Priority:   gateway.PriorityRoutine,
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Submit:     submit,
	})
	if err != nil && r == nil {
		e.t.Fatalf("create referral: %v", err)
	}
	return r
}

// startWorkers runs the delivery queue until the test ends.
func (e *env) startWorkers() {
	e.t.Helper()
	if err := e.store.StartWorkers(e.ctx, e.svc); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.store.StopWorkers(ctx)
	})
}

// waitFor polls cond until it holds or a deadline passes.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s", what)
}

// account creates an account and returns its TOTP secret.
func (e *env) account(name, password string, role admin.Role) string {
	e.t.Helper()
	uri, err := e.srv.CreateAccount(e.ctx, name, password, role)
	if err != nil {
		e.t.Fatalf("create account %s: %v", name, err)
	}
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		e.t.Fatal(err)
	}
	return key.Secret()
}

// practiceAccount creates an account of practice and returns its TOTP secret.
func (e *env) practiceAccount(practice, name, password string, role admin.Role) string {
	e.t.Helper()
	uri, err := e.srv.CreatePracticeAccount(e.ctx, practice, name, password, role)
	if err != nil {
		e.t.Fatalf("create account %s of %s: %v", name, practice, err)
	}
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		e.t.Fatal(err)
	}
	return key.Secret()
}

// mustLoginPractice creates an account of role in practice and returns a
// client logged in as it.
func (e *env) mustLoginPractice(practice, name string, role admin.Role) *client {
	e.t.Helper()
	secret := e.practiceAccount(practice, name, "correct horse battery", role)
	c := e.client()
	if r := c.login(name, "correct horse battery", e.code(secret)); r.status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	return c
}

// code is the TOTP code for secret at the test clock's time.
func (e *env) code(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// client is a browser-like API client with its own cookie jar.
type client struct {
	e    *env
	hc   *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// clientFrom is a client whose requests come from the loopback address ip
// (127.0.0.0/8), to play distinct users and attackers.
func (e *env) clientFrom(ip string) *client {
	c := e.client()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.hc.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem+json answer.
func (r response) problem(t *testing.T) admin.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json (body %s)", ct, r.body)
	}
	var p admin.Problem
	r.json(t, &p)
	return p
}

// do sends a request with an optional JSON body and extra headers.
func (c *client) do(method, path string, body any, headers ...string) response {
	c.e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.e.ctx, method, c.e.ts.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// login logs in over the API and keeps the CSRF token.
func (c *client) login(name, password, code string) response {
	c.e.t.Helper()
	r := c.do("POST", "/admin/v1/login", map[string]string{"name": name, "password": password, "code": code})
	if r.status == http.StatusOK {
		var info struct{ CSRF string }
		r.json(c.e.t, &info)
		c.csrf = info.CSRF
	}
	return r
}

// mustLogin creates an account of role and returns a client logged in as it.
func (e *env) mustLogin(name string, role admin.Role) *client {
	e.t.Helper()
	secret := e.account(name, "correct horse battery", role)
	c := e.client()
	if r := c.login(name, "correct horse battery", e.code(secret)); r.status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	return c
}

// auditActions lists the (action, outcome) pairs of the gateway's own
// trail, or of a tenant.
func (e *env) auditActions(tenant string) []string {
	e.t.Helper()
	var out []string
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, en.Action+"/"+en.Outcome)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// chainIntact verifies every audit chain.
func (e *env) chainIntact() {
	e.t.Helper()
	rep, err := audit.Verify(e.store.AuditEntries(e.ctx, gateway.AuditQuery{}))
	if err != nil || !rep.OK() {
		e.t.Fatalf("audit chain: %v %+v", err, rep)
	}
}

// lastAudit returns the newest entry of a tenant's chain.
func (e *env) lastAudit(tenant string) audit.Entry {
	e.t.Helper()
	var last audit.Entry
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			e.t.Fatal(err)
		}
		last = en
	}
	return last
}
