package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/fhir/mapping/schematest"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// manualClock is the one clock of a test: core, token server and verifier.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pullChannel stands in for an on-platform receiver that pulls its Tasks:
// the send itself carries nothing.
type pullChannel struct{}

func (pullChannel) Kind() gateway.ChannelKind                       { return gateway.ChannelFHIR }
func (pullChannel) Reachable(context.Context, *gateway.Entry) error { return nil }
func (pullChannel) Send(context.Context, *gateway.Outbound) (gateway.SendResult, error) {
	return gateway.SendResult{}, nil
}

// Synthetic parties.
const (
	orgNorth = "org-north" // the referring practice
	orgOrtho = "org-ortho" // the on-platform receiver
	orgOther = "org-other" // an unrelated tenant
)

// env is a gateway with the FHIR API and the SMART token server on one
// real listener.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	svc    *gateway.Service
	store  gateway.Store
	clock  *manualClock
	tokens *smart.TokenServer
	keys   map[string]*ecdsa.PrivateKey
	schema *schematest.Validator
	reg    *smart.MemoryRegistry
}

// clients are the registered test clients: id → org and scopes.
var clients = map[string]struct {
	org    string
	scopes []string
}{
	// A referrer: its transactions create every resource they carry.
	"ehr-north": {orgNorth, []string{"system/Task.cruds", "system/ServiceRequest.cruds", "system/Subscription.cruds",
		"system/DocumentReference.crs", "system/Binary.cr", "system/Patient.cr", "system/Practitioner.cr", "system/Consent.cr"}},
	"ehr-ortho": {orgOrtho, []string{"system/Task.cruds", "system/ServiceRequest.rs", "system/Subscription.cruds",
		"system/DocumentReference.rs", "system/Binary.r"}},
	"ehr-other":     {orgOther, []string{"system/*.cruds"}},
	"ehr-north-all": {orgNorth, []string{"system/*.cruds"}}, // org-north with every scope
	"ehr-readonly":  {orgNorth, []string{"system/Task.rs"}},
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWithStore(t, func(ctx context.Context) (gateway.Store, error) {
		return litestore.Open(ctx, filepath.Join(t.TempDir(), "g.db"), sqlstore.DefaultQueueConfig())
	})
}

func newEnvWithStore(t testing.TB, open func(context.Context) (gateway.Store, error)) *env {
	ctx := context.Background()
	store, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sealer, err := gateway.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	clock := &manualClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	svc := gateway.NewService(store, sealer, clock, gateway.DefaultConfig(), nil, pullChannel{})
	admin := gateway.Actor{ID: "user:admin"}
	for _, e := range []*gateway.Entry{
		{ID: orgNorth, Kind: gateway.KindOrganization, Name: "Northside Family Practice (synthetic)"},
		{ID: orgOrtho, Kind: gateway.KindOrganization, Name: "Ortho Example Clinic (synthetic)", OnPlatform: true, FHIR: &gateway.FHIREndpoint{}},
		{ID: orgOther, Kind: gateway.KindOrganization, Name: "Other Practice (synthetic)"},
	} {
		if _, err := svc.PutEntry(ctx, admin, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.VerifyEntry(ctx, admin, orgOrtho, "phone call (test)"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetBAA(ctx, admin, gateway.BAAChange{PartyID: orgOrtho, State: gateway.BAAActive, Start: clock.Now(), End: clock.Now().AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{srv: srv, svc: svc, store: store, clock: clock, keys: map[string]*ecdsa.PrivateKey{}}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
		e.schema = schematest.New(t)
	}
	reg := &smart.MemoryRegistry{}
	e.reg = reg
	for id, c := range clients {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		e.keys[id] = k
		reg.Put(smart.Client{ID: id, OrgID: c.org, Scopes: c.scopes, JWKS: smart.JWKS{{KID: id + "-key", Key: &k.PublicKey}}})
	}
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.tokens, err = smart.NewTokenServer(smart.TokenServerConfig{IssuerBase: srv.URL, Clients: reg,
		Replay: smart.NewMemoryReplayCache(clock.Now), Key: serverKey, KeyID: "gw-1", Clock: clock.Now,
		OnDecision: TokenAudit(svc, "gateway", nil)})
	if err != nil {
		t.Fatal(err)
	}
	api := New(svc, e.tokens.Verifier(), Config{BaseURL: srv.URL + "/fhir", TokenURL: e.tokens.TokenURL()}, nil)
	Routes(mux, api, e.tokens, srv.URL)
	return e
}

// tokenSource is a SMART client for one registered test client.
func (e *env) tokenSource(client string) *smart.TokenSource {
	return &smart.TokenSource{TokenURL: e.tokens.TokenURL(), ClientID: client, Key: e.keys[client], KeyID: client + "-key",
		Scopes: clients[client].scopes, HTTPClient: e.srv.Client(), Clock: e.clock.Now}
}

func (e *env) token(tb testing.TB, client string) string {
	tb.Helper()
	tok, err := e.tokenSource(client).Token(context.Background())
	if err != nil {
		tb.Fatalf("token for %s: %v", client, err)
	}
	return tok
}

// response is one HTTP exchange's result.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request with token (none when empty) and validates any FHIR
// JSON response against the R4 schema.
func (e *env) do(tb testing.TB, token, method, path string, body []byte, hdr ...string) *response {
	tb.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = e.srv.URL + path
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if e.schema != nil && strings.HasPrefix(res.Header.Get("Content-Type"), "application/fhir+json") && len(b) > 0 {
		e.schema.Validate(tb, b)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

// wantStatus fails unless the response has the status.
func (r *response) want(tb testing.TB, status int) *response {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// transaction renders a referral transaction Bundle for the test parties.
func transaction(identifier, status string) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001","resource":{"resourceType":"Task","status":%q,"intent":"order",
   "identifier":[{"system":"https://north.example.org/referrals","value":%q}],
   "focus":{"reference":"urn:uuid:00000000-0000-4000-8000-000000000002"},
   "requester":{"reference":"Organization/org-north"},"owner":{"reference":"Organization/org-ortho"}},
  "request":{"method":"POST","url":"Task","ifNoneExist":"identifier=https://north.example.org/referrals|%s"}},
 {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000002","resource":{"resourceType":"ServiceRequest","status":"active","intent":"order",
   "subject":{"reference":"urn:uuid:00000000-0000-4000-8000-000000000003"},
   "reasonCode":[{"coding":[{"system":"http://snomed.info/sct","code":"239873007","display":"Osteoarthritis of knee"}]}],
   "supportingInfo":[{"reference":"urn:uuid:00000000-0000-4000-8000-000000000004"}]},
  "request":{"method":"POST","url":"ServiceRequest"}},
 {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000003","resource":{"resourceType":"Patient",
   "identifier":[{"system":"urn:example:mrn","value":"MRN-%s"}],"name":[{"family":"Testperson","given":["Pat"]}],"birthDate":"1970-01-01"},
  "request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000004","resource":{"resourceType":"DocumentReference","status":"current",
   "content":[{"attachment":{"contentType":"text/plain","title":"Referral letter","data":"U3ludGhldGljIGxldHRlci4="}}]},
  "request":{"method":"POST","url":"DocumentReference"}}
]}`, status, identifier, identifier, identifier))
}

// createReferral posts a transaction as org-north and returns the Task id.
func (e *env) createReferral(tb testing.TB, identifier, status string) string {
	tb.Helper()
	res := e.do(tb, e.token(tb, "ehr-north"), "POST", "/fhir", transaction(identifier, status)).want(tb, http.StatusOK)
	var b struct {
		Entry []struct {
			Response struct{ Location string }
		}
	}
	res.decode(tb, &b)
	loc := b.Entry[0].Response.Location // Task/<id>/_history/<v>
	parts := strings.Split(loc, "/")
	if len(parts) != 4 || parts[0] != "Task" {
		tb.Fatalf("Task location %q", loc)
	}
	return parts[1]
}

// task is the part of a Task the tests read back.
type task struct {
	ID   string `json:"id"`
	Meta struct {
		VersionID string `json:"versionId"`
	} `json:"meta"`
	Status       string `json:"status"`
	StatusReason *struct {
		Text string `json:"text"`
	} `json:"statusReason"`
	Note []struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"note"`
	Output []struct {
		ValueReference *struct {
			Reference string `json:"reference"`
		} `json:"valueReference"`
	} `json:"output"`
}

// auditActions lists the actions recorded in a tenant's trail.
func (e *env) auditActions(tb testing.TB, tenant string) []string {
	tb.Helper()
	var out []string
	for en, err := range e.store.AuditEntries(context.Background(), gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, en.Action+"/"+en.Outcome)
	}
	return out
}
