package api

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/subscription"
	"github.com/referralgw/gateway/gateway"
)

// receiver is an EHR's rest-hook endpoint on a real TLS listener.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status int
	got    []received
}

// received is one request the receiver got.
type received struct {
	method, path string
	header       http.Header
	body         []byte
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{status: http.StatusOK}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := rc.status
		h := r.Header.Clone()
		h.Set("X-Answered", strconv.Itoa(status)) // what the receiver answered, for the tests
		rc.got = append(rc.got, received{method: r.Method, path: r.URL.Path, header: h, body: b})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setStatus(code int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status = code
}

// posts returns the requests the receiver got so far.
func (rc *receiver) posts() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// notice is what one R4 rest-hook notification told its receiver.
type notice struct {
	ping bool  // a POST without body: a subscription without payload, or the handshake
	task *task // the Task, PUT to [endpoint]/Task/[id] with payload application/fhir+json
}

// location names the Task version a notice carried ("" for a ping).
func (n notice) location() string {
	if n.task == nil {
		return ""
	}
	return "Task/" + n.task.ID + "/_history/" + n.task.Meta.VersionID
}

// notification checks one request against R4 core rest-hook (R4
// Subscription, channel type rest-hook) and reads it: a POST with no body
// to the endpoint itself, or the Task, valid R4 JSON, PUT to
// [endpoint]/Task/[id] as an update.
func (e *env) notification(t *testing.T, p received, endpoint string) notice {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(u.Path, "/")
	switch p.method {
	case http.MethodPost:
		if len(p.body) != 0 || (p.path != u.Path && p.path != base+"/") {
			t.Fatalf("POST %s with %d bytes, want a POST with no body to %s", p.path, len(p.body), endpoint)
		}
		return notice{ping: true}
	case http.MethodPut:
		e.schema.Validate(t, p.body)
		var tk task
		if err := json.Unmarshal(p.body, &tk); err != nil {
			t.Fatalf("PUT body %s: %v", p.body, err)
		}
		var kind struct{ ResourceType string }
		if err := json.Unmarshal(p.body, &kind); err != nil || kind.ResourceType != "Task" {
			t.Fatalf("PUT of a %q, want the Task", kind.ResourceType)
		}
		if want := base + "/Task/" + tk.ID; p.path != want || tk.ID == "" {
			t.Fatalf("PUT to %s of Task %q, want the update at %s", p.path, tk.ID, want)
		}
		if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
			t.Errorf("PUT Content-Type %q", ct)
		}
		return notice{task: &tk}
	}
	t.Fatalf("%s %s is no R4 rest-hook notification", p.method, p.path)
	return notice{}
}

// notifier returns a notifier of e's gateway that trusts the test TLS
// receivers; a failed attempt waits a minute.
func (e *env) notifier(rc *receiver) *subscription.Notifier {
	return subscription.NewNotifier(e.svc, subscription.Config{HTTPClient: rc.srv.Client(),
		Backoff: time.Minute, MaxBackoff: time.Hour}, nil)
}

func subscriptionBody(status, criteria, endpoint, payload string, header ...string) []byte {
	ch := map[string]any{"type": "rest-hook", "endpoint": endpoint}
	if payload != "" {
		ch["payload"] = payload
	}
	if header != nil {
		ch["header"] = header
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Subscription", "status": status, "reason": "follow our referrals",
		"criteria": criteria, "channel": ch})
	return b
}

// subscribe creates a subscription as client and returns it.
func (e *env) subscribe(t *testing.T, client string, body []byte) subscription.Resource {
	t.Helper()
	var s subscription.Resource
	res := e.do(t, e.token(t, client), "POST", "/fhir/Subscription", body).want(t, http.StatusCreated)
	res.decode(t, &s)
	if loc := res.header.Get("Location"); loc != e.srv.URL+"/fhir/Subscription/"+s.ID+"/_history/1" || res.header.Get("ETag") != `W/"1"` {
		t.Errorf("created subscription: Location %q, ETag %q", loc, res.header.Get("ETag"))
	}
	return s
}

func (e *env) readSubscription(t *testing.T, client, id string) subscription.Resource {
	t.Helper()
	var s subscription.Resource
	e.do(t, e.token(t, client), "GET", "/fhir/Subscription/"+id, nil).want(t, http.StatusOK).decode(t, &s)
	return s
}

// versionCount is how many versions the referral's Task has.
func (e *env) versionCount(t *testing.T, id string) int {
	t.Helper()
	vs, err := e.svc.ReferralVersions(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return len(vs)
}

func poll(t *testing.T, n *subscription.Notifier) {
	t.Helper()
	if err := n.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSubscriptionNotifiesTaskChanges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	before := e.createReferral(t, "S-0", "requested") // changed before the subscription exists
	e.clock.Advance(time.Minute)

	ortho, north := newReceiver(t), newReceiver(t)
	subOrtho := e.subscribe(t, "ehr-ortho", subscriptionBody("requested", "Task?owner=Organization/org-ortho", ortho.srv.URL+"/hook",
		"application/fhir+json", "Authorization: Bearer receiver-secret"))
	subNorth := e.subscribe(t, "ehr-north", subscriptionBody("active", "Task?requester=org-north", north.srv.URL, ""))
	if subOrtho.Status != subscription.StatusRequested || subOrtho.Criteria != "Task?owner=Organization/org-ortho" || subNorth.Criteria != "Task?requester=Organization/org-north" {
		t.Fatalf("created %+v and %+v", subOrtho, subNorth)
	}
	n := e.notifier(ortho)

	// The handshake confirms the requested subscription: a POST with no
	// body to the endpoint, whatever the payload.
	hook := ortho.srv.URL + "/hook"
	poll(t, n)
	if p := ortho.posts(); len(p) != 1 || !e.notification(t, p[0], hook).ping {
		t.Fatalf("handshake: %d requests", len(p))
	}
	if got := e.readSubscription(t, "ehr-ortho", subOrtho.ID); got.Status != subscription.StatusActive || got.Error != "" {
		t.Fatalf("after handshake: status %s error %q", got.Status, got.Error)
	}
	if len(north.posts()) != 0 {
		t.Fatalf("an active subscription got a handshake or a change from before it existed: %d posts", len(north.posts()))
	}
	// The receiver's credential is never read back; sending back what was
	// read keeps it.
	read := e.do(t, e.token(t, "ehr-ortho"), "GET", "/fhir/Subscription/"+subOrtho.ID, nil).want(t, http.StatusOK)
	if strings.Contains(string(read.body), "receiver-secret") {
		t.Fatalf("subscription read shows its header value: %s", read.body)
	}
	e.do(t, e.token(t, "ehr-ortho"), "PUT", "/fhir/Subscription/"+subOrtho.ID, read.body).want(t, http.StatusOK)
	e.do(t, e.token(t, "ehr-ortho"), "POST", "/fhir/Subscription", subscriptionBody("active", "Task?owner=org-ortho", ortho.srv.URL,
		"", "Authorization: "+subscription.Redacted)).want(t, http.StatusUnprocessableEntity)

	e.clock.Advance(time.Second)
	id := e.createReferral(t, "S-1", "requested")
	created := e.versionCount(t, id) // created as a draft, then submitted: one notification each
	poll(t, n)
	p := ortho.posts()
	if len(p) != 1+created || created < 2 {
		t.Fatalf("after a new Task of %d versions: %d posts, want handshake + one per version", created, len(p))
	}
	// With the payload, each version is an update: the Task PUT to
	// <endpoint>/Task/<id>, oldest version first.
	for i, post := range p[1:] {
		if loc := e.notification(t, post, hook).location(); loc != "Task/"+id+"/_history/"+strconv.Itoa(i+1) {
			t.Errorf("notification %d is %s, want version %d of %s (in order)", i+1, loc, i+1, id)
		}
		if post.header.Get("Authorization") != "Bearer receiver-secret" {
			t.Errorf("configured header not sent: %q", post.header.Get("Authorization"))
		}
	}
	firstVersion := e.notification(t, p[1], hook).task.Meta.VersionID
	// Without a payload, each version is a POST with no body to the
	// endpoint: one per version, naming nothing.
	idOnly := north.posts()
	if len(idOnly) != created {
		t.Fatalf("requester subscription: %d requests, want %d", len(idOnly), created)
	}
	for _, post := range idOnly {
		if !e.notification(t, post, north.srv.URL).ping {
			t.Errorf("id-only notification %s %s", post.method, post.path)
		}
	}
	for _, rc := range append(p[1:], idOnly...) {
		if strings.Contains(string(rc.body), before) || strings.Contains(rc.path, before) {
			t.Errorf("notified about %s, changed before the subscription", before)
		}
	}

	// Nothing changed: nothing is sent again.
	e.clock.Advance(time.Second)
	poll(t, n)
	if len(ortho.posts()) != 1+created || len(north.posts()) != created {
		t.Fatalf("a version was sent twice: %d and %d posts", len(ortho.posts()), len(north.posts()))
	}

	// The receiver accepts: both subscriptions hear of the new version once.
	e.clock.Advance(time.Second)
	e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+id, []byte(`[{"op":"replace","path":"/status","value":"accepted"}]`),
		"Content-Type", "application/json-patch+json").want(t, http.StatusOK)
	poll(t, n)
	poll(t, n)
	p = ortho.posts()
	total := e.versionCount(t, id)
	if len(p) != 1+total {
		t.Fatalf("after accept: %d posts, want %d", len(p), 1+total)
	}
	if v := e.notification(t, p[total], hook).task; v.Status != "accepted" || v.Meta.VersionID == firstVersion {
		t.Errorf("accepted notification %s", p[total].body)
	}
	if len(north.posts()) != total {
		t.Errorf("requester subscription: %d posts after accept, want %d", len(north.posts()), total)
	}

	// Every attempt is in the subscriber's trail, ids only.
	trail := e.auditActions(t, orgOrtho)
	for _, want := range []string{"fhir.subscription.handshake/success", "fhir.subscription.notify/success", "fhir.create/success"} {
		if !slices.Contains(trail, want) {
			t.Errorf("ortho trail lacks %s: %v", want, trail)
		}
	}
	for en, err := range e.store.AuditEntries(ctx, gateway.AuditQuery{Tenant: orgOrtho}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(en.Action, "fhir.subscription.notify") {
			if en.ReferralID != id || en.Detail["subscription"] != subOrtho.ID || en.Detail["version"] == "" {
				t.Errorf("notify audit %+v", en)
			}
			if strings.Contains(strings.Join(slices.Collect(maps.Values(en.Detail)), " "), "Testperson") {
				t.Errorf("audit carries content: %+v", en.Detail)
			}
		}
	}
}

func TestSubscriptionRefusals(t *testing.T) {
	e := newEnv(t)
	const hook = "https://ehr.example.org/hook"
	tests := []struct {
		name   string
		client string
		body   []byte
		status int
		expr   string
	}{
		{"another organisation as owner", "ehr-ortho", subscriptionBody("active", "Task?owner=Organization/org-north", hook, ""), 403, "Subscription.criteria"},
		{"another organisation as requester", "ehr-other", subscriptionBody("active", "Task?requester=org-north", hook, ""), 403, "Subscription.criteria"},
		{"other resource", "ehr-ortho", subscriptionBody("active", "Patient?organization=org-ortho", hook, ""), 422, "Subscription.criteria"},
		{"two parameters", "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho&status=requested", hook, ""), 422, "Subscription.criteria"},
		{"no criteria", "ehr-ortho", subscriptionBody("active", "", hook, ""), 422, "Subscription.criteria"},
		{"http endpoint", "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", "http://ehr.example.org/hook", ""), 422, "Subscription.channel.endpoint"},
		{"credentials in endpoint", "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", "https://u:p@ehr.example.org/hook", ""), 422, "Subscription.channel.endpoint"},
		{"xml payload", "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", hook, "application/fhir+xml"), 422, "Subscription.channel.payload"},
		{"header injection", "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", hook, "", "X-A: b\r\nX-B: c"), 422, "Subscription.channel.header[0]"},
		{"reserved header", "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", hook, "", "Host: evil.example"), 422, "Subscription.channel.header[0]"},
		{"status error", "ehr-ortho", subscriptionBody("error", "Task?owner=org-ortho", hook, ""), 422, "Subscription.status"},
		{"email channel", "ehr-ortho", []byte(`{"resourceType":"Subscription","status":"active","reason":"r","criteria":"Task?owner=org-ortho","channel":{"type":"email","endpoint":"mailto:a@example.org"}}`), 422, "Subscription.channel.type"},
		{"no reason", "ehr-ortho", []byte(`{"resourceType":"Subscription","status":"active","criteria":"Task?owner=org-ortho","channel":{"type":"rest-hook","endpoint":"` + hook + `"}}`), 422, "Subscription.reason"},
		{"not a Subscription", "ehr-ortho", []byte(`{"resourceType":"Task","status":"active"}`), 400, "Subscription.resourceType"},
		{"malformed", "ehr-ortho", []byte(`{"resourceType":"Subscription","status":`), 400, ""},
		{"scope missing", "ehr-readonly", subscriptionBody("active", "Task?owner=org-north", hook, ""), 403, ""},
		// Its topics and notification Bundles are not implemented: refused
		// rather than served otherwise than the profile says.
		{"R5 Backport profile", "ehr-ortho", []byte(`{"resourceType":"Subscription","meta":{"profile":["` + subscription.BackportProfile + `"]},` +
			`"status":"requested","reason":"r","criteria":"Task?owner=org-ortho","channel":{"type":"rest-hook","endpoint":"` + hook + `"}}`),
			422, "Subscription.meta.profile[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, e.token(t, tt.client), "POST", "/fhir/Subscription", tt.body).want(t, tt.status)
			var oo OperationOutcome
			res.decode(t, &oo)
			if oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
				t.Fatalf("answer %s", res.body)
			}
			if tt.expr != "" && !slices.Contains(oo.Issue[0].Expression, tt.expr) {
				t.Errorf("expression %v, want %s", oo.Issue[0].Expression, tt.expr)
			}
		})
	}
	var all struct {
		Total int `json:"total"`
	}
	for _, client := range []string{"ehr-ortho", "ehr-other"} {
		e.do(t, e.token(t, client), "GET", "/fhir/Subscription", nil).want(t, http.StatusOK).decode(t, &all)
		if all.Total != 0 {
			t.Errorf("%s has %d subscriptions after refusals", client, all.Total)
		}
	}
}

func TestSubscriptionFailingEndpointStopsAndResumes(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	rc.setStatus(http.StatusServiceUnavailable)
	sub := e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", rc.srv.URL, "application/fhir+json"))
	n := e.notifier(rc)
	e.clock.Advance(time.Second)
	id := e.createReferral(t, "F-1", "requested")

	const maxFailures = 5 // the default
	for attempt := 1; attempt <= maxFailures; attempt++ {
		poll(t, n)
		if got := len(rc.posts()); got != attempt {
			t.Fatalf("attempt %d: endpoint got %d posts", attempt, got)
		}
		poll(t, n) // still backing off: no attempt
		if got := len(rc.posts()); got != attempt {
			t.Fatalf("attempt %d: retried during backoff (%d posts)", attempt, got)
		}
		e.clock.Advance(time.Duration(1<<attempt) * time.Minute)
		if s := e.readSubscription(t, "ehr-ortho", sub.ID); attempt < maxFailures && s.Status != subscription.StatusActive {
			t.Fatalf("attempt %d: status %s", attempt, s.Status)
		}
	}
	s := e.readSubscription(t, "ehr-ortho", sub.ID)
	if s.Status != subscription.StatusError || !strings.Contains(s.Error, "http 503") {
		t.Fatalf("after %d failures: status %s, error %q", maxFailures, s.Status, s.Error)
	}
	for range 3 {
		e.clock.Advance(24 * time.Hour)
		poll(t, n)
	}
	if got := len(rc.posts()); got != maxFailures {
		t.Fatalf("a subscription in error was retried: %d posts", got)
	}
	if trail := e.auditActions(t, orgOrtho); !slices.Contains(trail, "fhir.subscription.error/failure") || !slices.Contains(trail, "fhir.subscription.notify/failure") {
		t.Errorf("trail %v", trail)
	}
	var list struct {
		Total int `json:"total"`
	}
	e.do(t, e.token(t, "ehr-ortho"), "GET", "/fhir/Subscription?status=error", nil).want(t, http.StatusOK).decode(t, &list)
	if list.Total != 1 {
		t.Errorf("search status=error found %d", list.Total)
	}

	// PUT back what was read keeps the error; a stale version (If-Match;
	// R4 ignores meta.versionId in the body) is refused.
	body, _ := json.Marshal(s)
	read := `W/"` + s.Meta.VersionID + `"`
	e.do(t, e.token(t, "ehr-ortho"), "PUT", "/fhir/Subscription/"+sub.ID, body, "If-Match", read).want(t, http.StatusOK)
	e.do(t, e.token(t, "ehr-ortho"), "PUT", "/fhir/Subscription/"+sub.ID, body, "If-Match", read).want(t, http.StatusPreconditionFailed)
	if got := e.readSubscription(t, "ehr-ortho", sub.ID); got.Status != subscription.StatusError {
		t.Fatalf("PUT of the read resource changed status to %s", got.Status)
	}

	// The endpoint is fixed and the client resumes: handshake, then the
	// version it missed.
	rc.setStatus(http.StatusOK)
	s = e.readSubscription(t, "ehr-ortho", sub.ID)
	s.Status = subscription.StatusRequested
	body, _ = json.Marshal(s)
	e.do(t, e.token(t, "ehr-ortho"), "PUT", "/fhir/Subscription/"+sub.ID, body, "If-Match", `W/"`+s.Meta.VersionID+`"`).want(t, http.StatusOK)
	resumed := false
	for en, err := range e.store.AuditEntries(context.Background(), gateway.AuditQuery{Tenant: orgOrtho}) {
		if err != nil {
			t.Fatal(err)
		}
		resumed = resumed || (en.Action == "fhir.update" && en.Detail["resource"] == "Subscription" && en.Detail["id"] == sub.ID &&
			en.Detail["subscriptionStatus"] == "requested" && en.Detail["status"] == "200")
	}
	if !resumed {
		t.Error("the resuming PUT is not in the trail")
	}
	poll(t, n)
	p := rc.posts()
	if want := maxFailures + 1 + e.versionCount(t, id); len(p) != want {
		t.Fatalf("after resume: %d posts, want %d (the handshake, then every version missed)", len(p), want)
	}
	if !e.notification(t, p[maxFailures], rc.srv.URL).ping {
		t.Errorf("first request after resume is not the handshake: %s %s", p[maxFailures].method, p[maxFailures].path)
	}
	if got := e.notification(t, p[maxFailures+1], rc.srv.URL).task; got == nil || got.ID != id {
		t.Errorf("missed version not delivered: %s", p[maxFailures+1].body)
	}
	if s := e.readSubscription(t, "ehr-ortho", sub.ID); s.Status != subscription.StatusActive || s.Error != "" {
		t.Errorf("after resume: status %s error %q", s.Status, s.Error)
	}
}

func TestSubscriptionCrossTenantIsolation(t *testing.T) {
	e := newEnv(t)
	other := newReceiver(t)
	var subs []subscription.Resource
	for _, criteria := range []string{"Task?owner=org-other", "Task?requester=org-other"} {
		subs = append(subs, e.subscribe(t, "ehr-other", subscriptionBody("active", criteria, other.srv.URL, "application/fhir+json")))
	}
	n := e.notifier(other)
	e.clock.Advance(time.Second)
	id := e.createReferral(t, "X-1", "requested")
	e.clock.Advance(time.Second)
	e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+id, []byte(`[{"op":"replace","path":"/status","value":"accepted"}]`),
		"Content-Type", "application/json-patch+json").want(t, http.StatusOK)
	poll(t, n)
	if got := len(other.posts()); got != 0 {
		t.Fatalf("org-other was notified about a referral between north and ortho: %d posts", got)
	}
	// Another organisation's subscription is not found, never forbidden;
	// its DELETE and PUT are answered as for an id that does not exist
	// (R4: 204, and 405 from a server without update-as-create) and
	// change nothing.
	for _, client := range []string{"ehr-north", "ehr-ortho"} {
		tok := e.token(t, client)
		e.do(t, tok, "GET", "/fhir/Subscription/"+subs[0].ID, nil).want(t, http.StatusNotFound)
		e.do(t, tok, "DELETE", "/fhir/Subscription/"+subs[0].ID, nil).want(t, http.StatusNoContent)
		e.readSubscription(t, "ehr-other", subs[0].ID)
		body, _ := json.Marshal(subs[0])
		e.do(t, tok, "PUT", "/fhir/Subscription/"+subs[0].ID, body).want(t, http.StatusMethodNotAllowed)
		var list struct {
			Total int `json:"total"`
		}
		e.do(t, tok, "GET", "/fhir/Subscription?_id="+subs[0].ID, nil).want(t, http.StatusOK).decode(t, &list)
		if list.Total != 0 {
			t.Errorf("%s found another organisation's subscription", client)
		}
	}
	// The owner deletes its own.
	tok := e.token(t, "ehr-other")
	e.do(t, tok, "DELETE", "/fhir/Subscription/"+subs[0].ID, nil).want(t, http.StatusNoContent)
	e.do(t, tok, "GET", "/fhir/Subscription/"+subs[0].ID, nil).want(t, http.StatusNotFound)
}

// TestSubscriptionNotificationsRunOnTheQueue runs notifications as jobs
// on the core's queue (River): every Task version is one notification, in
// order, and an endpoint that is down is retried with backoff until it
// answers, without losing or repeating a version.
func TestSubscriptionNotificationsRunOnTheQueue(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	rc.setStatus(http.StatusServiceUnavailable) // down at first
	n := subscription.NewNotifier(e.svc, subscription.Config{HTTPClient: rc.srv.Client(),
		Clock: time.Now, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxFailures: 1000}, nil)
	n.Register()
	e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", rc.srv.URL, "application/fhir+json"))
	if err := e.store.StartWorkers(context.Background(), e.svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.store.StopWorkers(ctx)
	})
	id := e.createReferral(t, "Q-1", "requested")
	e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+id, []byte(`[{"op":"replace","path":"/status","value":"accepted"}]`),
		"Content-Type", "application/json-patch+json").want(t, http.StatusOK)
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.posts()) < 3 && time.Now().Before(deadline) { // a few failed attempts first
		time.Sleep(5 * time.Millisecond)
	}
	rc.setStatus(http.StatusOK) // back up
	// The workers also deliver the referral, which may add a version.
	for time.Now().Before(deadline) && len(successes(rc)) < e.versionCount(t, id) {
		time.Sleep(5 * time.Millisecond)
	}
	got := successes(rc)
	want := e.versionCount(t, id)
	if len(got) != want {
		t.Fatalf("delivered %v, want each of the %d versions once", got, want)
	}
	for i, loc := range got {
		if wantLoc := "Task/" + id + "/_history/" + strconv.Itoa(i+1); loc != wantLoc {
			t.Errorf("notification %d is %s, want %s (one per version, in order)", i, loc, wantLoc)
		}
	}
}

// successes lists the Task versions the receiver accepted (answered 2xx)
// as updates (PUT, a subscription with payload), in the order it got them.
func successes(rc *receiver) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, p := range rc.got {
		if p.header.Get("X-Answered") != "200" || p.method != http.MethodPut {
			continue
		}
		var tk task
		if json.Unmarshal(p.body, &tk) == nil {
			out = append(out, notice{task: &tk}.location())
		}
	}
	return out
}

func TestSubscriptionSearchParamsAdvertised(t *testing.T) {
	e := newEnv(t)
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				SearchParam []struct{ Name string }
			}
		}
	}
	e.do(t, "", "GET", "/fhir/metadata", nil).want(t, http.StatusOK).decode(t, &cs)
	found := false
	for _, r := range cs.Rest[0].Resource {
		if r.Type != "Subscription" {
			continue
		}
		found = true
		for _, p := range r.SearchParam {
			if !slices.Contains(subscriptionParams, p.Name) {
				t.Errorf("advertised Subscription search parameter %s is not implemented", p.Name)
			}
		}
	}
	if !found {
		t.Error("the CapabilityStatement does not list Subscription")
	}
	e.do(t, e.token(t, "ehr-ortho"), "GET", "/fhir/Subscription?contact=x", nil, "Prefer", "handling=strict").want(t, http.StatusBadRequest)
	e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Subscription/x", []byte(`[]`)).want(t, http.StatusMethodNotAllowed)
}

// Two gateway instances run a notifier each over one store: every Task
// version still reaches the receiver once.
func TestSubscriptionTwoNotifiersSendOnce(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	// With a payload, so that each request names its Task version.
	e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", rc.srv.URL, "application/fhir+json"))
	notifiers := []*subscription.Notifier{e.notifier(rc), e.notifier(rc)}
	e.clock.Advance(time.Second)
	ids := []string{e.createReferral(t, "T-1", "requested"), e.createReferral(t, "T-2", "requested")}
	for round := range 3 {
		if round == 1 {
			e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+ids[0], []byte(`[{"op":"replace","path":"/status","value":"accepted"}]`),
				"Content-Type", "application/json-patch+json").want(t, http.StatusOK)
		}
		var wg sync.WaitGroup
		for _, n := range notifiers {
			wg.Go(func() {
				if err := n.Poll(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	seen := map[string]int{}
	for _, p := range rc.posts() {
		seen[e.notification(t, p, rc.srv.URL).location()]++
	}
	if want := e.versionCount(t, ids[0]) + e.versionCount(t, ids[1]); len(seen) != want {
		t.Errorf("receiver got %d distinct versions, want every one of the %d: %v", len(seen), want, seen)
	}
	for u, k := range seen {
		if k != 1 {
			t.Errorf("%s sent %d times", u, k)
		}
	}
}

func TestSubscriptionSearch(t *testing.T) {
	e := newEnv(t)
	const hook = "https://ehr.example.org/hook"
	e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", hook, "application/fhir+json"))
	e.subscribe(t, "ehr-ortho", subscriptionBody("off", "Task?requester=org-ortho", hook+"2", ""))
	e.subscribe(t, "ehr-north", subscriptionBody("active", "Task?requester=org-north", hook, ""))
	tok := e.token(t, "ehr-ortho")
	tests := []struct {
		query string
		want  int
	}{
		{"", 2},
		{"?status=active", 1},
		{"?status=off,active", 2},
		{"?criteria=Task?owner=org-ortho", 1},
		{"?criteria=" + url.QueryEscape("Task?requester=Organization/org-ortho"), 1},
		{"?criteria=Task?requester=org-north", 0},
		{"?url=" + url.QueryEscape(hook), 1},
		{"?payload=" + url.QueryEscape("application/fhir+json"), 1},
		{"?type=rest-hook&status=active", 1},
		{"?type=websocket", 0},
	}
	for _, tt := range tests {
		var b struct {
			Total int `json:"total"`
			Entry []struct {
				Resource subscription.Resource `json:"resource"`
			} `json:"entry"`
		}
		e.do(t, tok, "GET", "/fhir/Subscription"+tt.query, nil).want(t, http.StatusOK).decode(t, &b)
		if b.Total != tt.want || len(b.Entry) != tt.want {
			t.Errorf("%s: %d found, want %d", tt.query, b.Total, tt.want)
		}
		for _, en := range b.Entry {
			if !strings.HasSuffix(en.Resource.Criteria, "org-ortho") {
				t.Errorf("%s found %s", tt.query, en.Resource.Criteria)
			}
		}
	}
	e.do(t, tok, "GET", "/fhir/Subscription?criteria=Patient?x=y", nil).want(t, http.StatusBadRequest)
}

// A backlog larger than one batch is delivered over several polls, oldest
// change first, each version once.
func TestSubscriptionBacklogInBatches(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", rc.srv.URL, "application/fhir+json"))
	n := subscription.NewNotifier(e.svc, subscription.Config{HTTPClient: rc.srv.Client(), Batch: 2}, nil)
	var want []string
	for i := range 5 {
		e.clock.Advance(time.Hour)                                                  // far apart: beyond the overlap
		want = append(want, e.createReferral(t, "B-"+string(rune('a'+i)), "draft")) // one version each
	}
	for i := range 3 {
		poll(t, n)
		if got, want := len(rc.posts()), min(2*(i+1), 5); got != want {
			t.Fatalf("poll %d: %d posts, want %d", i+1, got, want)
		}
	}
	poll(t, n)
	var got []string
	for _, p := range rc.posts() {
		got = append(got, e.notification(t, p, rc.srv.URL).task.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v in order", got, want)
	}
}

// TestSubscriptionNeedsTheScopesOfItsNotifications: a subscription has the
// server run its criteria as a Task search for the client and, with a
// payload, send it the Tasks themselves; the Subscription scope alone
// authorises neither. Without them the create or update is a 403 naming
// the scope, in the insufficient_scope form of any other request.
func TestSubscriptionNeedsTheScopesOfItsNotifications(t *testing.T) {
	e := newEnv(t)
	const hook = "https://ehr.example.org/hook"
	scoped := func(id string, scopes ...string) string {
		e.reg.Put(smart.Client{ID: id, OrgID: orgOrtho, Scopes: scopes, JWKS: smart.JWKS{{KID: "ehr-ortho-key", Key: &e.keys["ehr-ortho"].PublicKey}}})
		ts := e.tokenSource("ehr-ortho")
		ts.ClientID, ts.Scopes = id, scopes
		tok, err := ts.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	subsOnly := scoped("ortho-subs-only", "system/Subscription.cruds")
	searchOnly := scoped("ortho-task-search", "system/Subscription.cruds", "system/Task.s")
	both := scoped("ortho-task-rs", "system/Subscription.cruds", "system/Task.rs")
	tests := []struct {
		name, token, payload, need string
	}{
		{"id-only without Task search", subsOnly, "", "system/Task.s"},
		{"payload without Task search", subsOnly, "application/fhir+json", "system/Task.s"},
		{"payload without Task read", searchOnly, "application/fhir+json", "system/Task.r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, tt.token, "POST", "/fhir/Subscription", subscriptionBody("off", "Task?owner=org-ortho", hook, tt.payload)).
				want(t, http.StatusForbidden)
			if got, want := res.header.Get("WWW-Authenticate"), `Bearer realm="fhir", error="insufficient_scope", scope="`+tt.need+`"`; got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
		})
	}
	e.do(t, searchOnly, "POST", "/fhir/Subscription", subscriptionBody("off", "Task?owner=org-ortho", hook, "")).want(t, http.StatusCreated)
	var s subscription.Resource
	e.do(t, both, "POST", "/fhir/Subscription", subscriptionBody("off", "Task?owner=org-ortho", hook, "application/fhir+json")).
		want(t, http.StatusCreated).decode(t, &s)
	// An update that adds a payload needs the read scope too.
	s.Channel.Payload = subscription.PayloadFHIRJSON
	body, _ := json.Marshal(s)
	e.do(t, searchOnly, "PUT", "/fhir/Subscription/"+s.ID, body).want(t, http.StatusForbidden)
	e.do(t, both, "PUT", "/fhir/Subscription/"+s.ID, body).want(t, http.StatusOK)
}
