package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/subscription"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/internal/peer"
)

// ContentType is the media type of every resource the API writes.
const ContentType = "application/fhir+json; charset=utf-8"

// Authenticator turns a request's bearer token into the client behind it.
// *smart.Verifier implements it; tests may use the real token server over
// HTTP or any other implementation.
type Authenticator interface {
	Authenticate(r *http.Request) (smart.Principal, error)
}

// Config tunes the API. Only BaseURL is required.
type Config struct {
	// BaseURL is the public URL of the FHIR base (e.g.
	// "https://gw.example.org/fhir"); fullUrl, Location and paging links
	// are built from it.
	BaseURL string
	// TokenURL is advertised in the CapabilityStatement's security section.
	TokenURL string
	// DefaultCount and MaxCount bound a search page; defaults 50 and 200.
	DefaultCount, MaxCount int
	// MaxBodyBytes bounds a request body; default 20 MiB.
	MaxBodyBytes int64
	// Subscriptions stores the /fhir/Subscription resources; default a
	// registry over the service with https endpoints only. Pass the one
	// whose Config the Notifier shares when http endpoints are allowed.
	Subscriptions *subscription.Registry
}

func (c *Config) fill() {
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.DefaultCount <= 0 {
		c.DefaultCount = 50
	}
	if c.MaxCount <= 0 {
		c.MaxCount = 200
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 20 << 20
	}
}

// catchAll is the route of every request no other route serves.
const catchAll = "/fhir/"

// Handler serves /fhir. It is safe for concurrent use.
type Handler struct {
	svc  *gateway.Service
	subs *subscription.Registry
	auth Authenticator
	cfg  Config
	log  *slog.Logger
	mux  *http.ServeMux
}

// New returns the /fhir handler over svc, authenticating with auth. A nil
// log discards.
func New(svc *gateway.Service, auth Authenticator, cfg Config, log *slog.Logger) *Handler {
	cfg.fill()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, subs: cfg.Subscriptions, auth: auth, cfg: cfg, log: log, mux: http.NewServeMux()}
	if h.subs == nil {
		h.subs = subscription.NewRegistry(svc, subscription.Config{})
	}
	h.mux.HandleFunc("GET /fhir/metadata", h.metadata)
	h.handle("POST /fhir", "transaction.create", h.transaction)
	h.handle("POST /fhir/{$}", "transaction.create", h.transaction)
	h.handle("POST /fhir/Task", "create", h.createTask)
	h.handle("GET /fhir/Task", "search.read", h.search)
	h.handle("GET /fhir/Task/{id}", "read", h.readTask)
	h.handle("PUT /fhir/Task/{id}", "update", h.updateTask)
	h.handle("PATCH /fhir/Task/{id}", "patch.update", h.patchTask)
	h.handle("GET /fhir/Task/{id}/_history", "history.read", h.history)
	h.handle("GET /fhir/Task/{id}/_history/{vid}", "vread.read", h.vread)
	h.handle("POST /fhir/ServiceRequest", "create", h.createServiceRequest)
	h.handle("GET /fhir/ServiceRequest/{id}", "read", h.readServiceRequest)
	h.handle("GET /fhir/DocumentReference/{id}", "read", h.readDocumentReference)
	h.handle("GET /fhir/Binary/{id}", "read", h.readBinary)
	h.handle("GET /fhir/ServiceRequest/{id}/_history/{vid}", "vread.read", h.vreadServiceRequest)
	for _, typ := range partTypes {
		h.handle("GET /fhir/"+typ+"/{id}", "read", h.readPart(typ))
	}
	h.handle("POST /fhir/Subscription", "create", h.createSubscription)
	h.handle("GET /fhir/Subscription", "search.read", h.searchSubscriptions)
	h.handle("GET /fhir/Subscription/{id}", "read", h.readSubscription)
	h.handle("GET /fhir/Subscription/{id}/_history/{vid}", "vread.read", h.vreadSubscription)
	h.handle("PUT /fhir/Subscription/{id}", "update", h.updateSubscription)
	h.handle("DELETE /fhir/Subscription/{id}", "delete", h.deleteSubscription)
	h.handle(catchAll, "unknown", h.unknown)
	return h
}

// ServeHTTP routes a request under /fhir.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Routes mounts the FHIR API at /fhir, the SMART token endpoint at
// smart.TokenPath and the SMART discovery document both at the root and
// below /fhir, so cmd/ can serve everything from one mux.
func Routes(mux *http.ServeMux, api *Handler, token *smart.TokenServer, issuerBase string) {
	mux.Handle("/fhir", api)
	mux.Handle("/fhir/", api)
	mux.Handle(smart.TokenPath, token)
	discovery := smart.SmartConfiguration(issuerBase)
	mux.Handle("GET "+smart.ConfigurationPath, discovery)
	mux.Handle("GET /fhir"+smart.ConfigurationPath, discovery)
}

// call is one authenticated request: who made it and what the trail
// records about it.
type call struct {
	p        smart.Principal
	actor    gateway.Actor
	action   string
	resource string
	id       string
	tenants  []string
	detail   map[string]string
}

// handle registers fn behind authentication and per-request auditing.
// fn writes its own success response; an error is mapped to an
// OperationOutcome here.
func (h *Handler) handle(pattern, action string, fn func(w http.ResponseWriter, r *http.Request, c *call) (int, error)) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, err := h.auth.Authenticate(r)
		if err != nil {
			h.refuseToken(ctx, w, r, err)
			return
		}
		c := &call{p: p, actor: gateway.Actor{ID: "client:" + p.ClientID, OrgID: p.OrgID}, action: action,
			tenants: []string{p.OrgID}, detail: map[string]string{"method": r.Method}}
		r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
		rw := &responseWriter{ResponseWriter: w, pretty: r.URL.Query().Get(paramPretty) == "true",
			minimal: preferMinimal(r) && (action == "create" || action == "update" || action == "patch.update")}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			// A field that does not parse is ignored: a read has nothing
			// to protect, and the full answer is always correct.
			rw.ifNoneMatch, _ = readPrecondition(r, "If-None-Match", "")
		}
		defer rw.finish()
		w = rw
		status, err := 0, acceptable(r, strings.HasPrefix(r.URL.Path, "/fhir/Binary/"))
		if err == nil {
			status, err = fn(w, r, c)
		}
		if err == nil && rw.status == http.StatusNotModified {
			status = rw.status
		}
		if err != nil {
			o := opRead
			switch r.Method {
			case http.MethodPost:
				o = opCreate
			case http.MethodPut, http.MethodPatch, http.MethodDelete:
				o = opUpdate
			}
			var oo OperationOutcome
			status, oo = outcomeFor(err, o)
			if status == http.StatusInternalServerError {
				h.log.ErrorContext(ctx, "fhir request failed", "action", action, "resource", c.resource, "id", c.id, "err", err)
			}
			var ae *apiError
			var hdr map[string]string
			if errors.As(err, &ae) {
				hdr = ae.header
			}
			writeJSON(w, status, oo, hdr)
		}
		h.auditCall(ctx, c, status)
	})
}

// refuseToken answers a request without a valid bearer token with 401 and
// audits the refusal (without the token).
func (h *Handler) refuseToken(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, smart.ErrInvalidToken) && !errors.Is(err, smart.ErrNoBearerToken) {
		// The token could not be judged (its client could not be looked
		// up): a temporary failure, not a reason to sign in again.
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, OperationOutcome{ResourceType: "OperationOutcome",
			Issue: []Issue{{Severity: "error", Code: "transient", Diagnostics: "the access token could not be checked now; try again"}}}, nil)
		return
	}
	reason, challenge := "invalid token", `Bearer realm="fhir", error="invalid_token"`
	if errors.Is(err, smart.ErrNoBearerToken) {
		reason, challenge = "no bearer token", `Bearer realm="fhir"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSON(w, http.StatusUnauthorized, OperationOutcome{ResourceType: "OperationOutcome",
		Issue: []Issue{{Severity: "error", Code: "login", Diagnostics: reason}}}, nil)
	// Anyone can send a request without a valid token: the refusal goes to
	// the gateway's own chain through RecordEdge, aggregated per client
	// address (an IPv6 client by its /64) and reason, so a flood of them
	// writes one entry a window, not one per request.
	if err := h.svc.RecordEdge(context.WithoutCancel(ctx), gateway.EdgeEvent{Action: "auth.bearer.refused",
		Source: peer.Key(r.RemoteAddr), Reason: reason}); err != nil {
		h.log.ErrorContext(ctx, "audit bearer refusal", "err", err)
	}
}

// allow checks a scope and, when it is missing, audits the refusal and
// returns the 403 to answer with.
func (h *Handler) allow(ctx context.Context, c *call, resource string, o smart.Op) error {
	return h.allowFor(ctx, c, resource, o, "")
}

// allowCreate checks the scopes a POST creating resource needs: create,
// and search as well when If-None-Exist makes it a conditional create.
func (h *Handler) allowCreate(ctx context.Context, c *call, r *http.Request, resource string) error {
	if err := h.allow(ctx, c, resource, smart.Create); err != nil {
		return err
	}
	if r.Header.Get("If-None-Exist") == "" {
		return nil
	}
	return h.allowConditional(ctx, c, resource, "a conditional create (If-None-Exist)")
}

// allowConditional checks the scope of the search a conditional create
// runs before it creates: it searches resource for a match and tells the
// client whether one exists, so it needs search on resource (SMART v2
// .s, v1 read) besides the create scope. what names the condition.
func (h *Handler) allowConditional(ctx context.Context, c *call, resource, what string) error {
	return h.allowFor(ctx, c, resource, smart.Search, what+" searches "+resource+" for a match")
}

// allowFor is allow with why, when not empty, saying what needs the scope.
func (h *Handler) allowFor(ctx context.Context, c *call, resource string, o smart.Op, why string) error {
	if c.p.Allows(resource, o) {
		return nil
	}
	need := resource + "." + o.String()
	h.record(ctx, audit.Event{Actor: c.actor.ID, Tenants: []string{c.p.OrgID}, Action: "auth.scope.refused",
		Outcome: audit.OutcomeRefused, Detail: map[string]string{"needed": "system/" + need, "token": c.p.TokenID}})
	diag := "the access token lacks scope system/" + need + v1Hint(resource, o)
	if why != "" {
		diag = why + ": " + diag
	}
	ae := newAPIError(http.StatusForbidden, "forbidden", diag)
	// RFC 6750 §3.1: a token without the scope gets a challenge naming it.
	ae.header = map[string]string{"WWW-Authenticate": `Bearer realm="fhir", error="insufficient_scope", scope="system/` + need + `"`}
	return ae
}

// v1Hint names the SMART v1 scope that also grants o, for clients that
// speak v1: read covers read and search, write create, update and delete.
func v1Hint(resource string, o smart.Op) string {
	switch o {
	case smart.Read, smart.Search:
		return " (SMART v1: system/" + resource + ".read)"
	case smart.Create, smart.Update, smart.Delete:
		return " (SMART v1: system/" + resource + ".write)"
	}
	return ""
}

// writeMatched answers a conditional create that matched an existing
// resource of type typ: 200 with the resource when the token may read it,
// otherwise 200 with its headers only (ETag, Location), as for
// Prefer: return=minimal. The create and search scopes let the client
// learn that the resource exists and where, not what it holds.
func writeMatched(w http.ResponseWriter, c *call, typ string, res any, hdr map[string]string) {
	if c.p.Allows(typ, smart.Read) {
		writeJSON(w, http.StatusOK, res, hdr)
		return
	}
	c.detail["body"] = "withheld: no read scope"
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.WriteHeader(http.StatusOK)
}

// visible reports whether the client's organisation is a party to r.
// Callers answer 404 otherwise, so other tenants' ids do not leak.
func visible(p smart.Principal, r *gateway.Referral) bool {
	return p.OrgID != "" && (p.OrgID == r.Requester.OrgID || p.OrgID == r.ReceiverOrgID || p.OrgID == r.ReceiverID)
}

// parties are the trails a referral's events belong in.
func parties(r *gateway.Referral) []string {
	if r.ReceiverOrgID == "" || r.ReceiverOrgID == r.Requester.OrgID {
		return []string{r.Requester.OrgID}
	}
	return []string{r.Requester.OrgID, r.ReceiverOrgID}
}

// auditCall records one request in the trail: resource, id, status and the
// token id, never content.
func (h *Handler) auditCall(ctx context.Context, c *call, status int) {
	outcome := audit.OutcomeSuccess
	switch {
	case status >= 500:
		outcome = audit.OutcomeFailure
	case status >= 400:
		outcome = audit.OutcomeRefused
	}
	c.detail["status"] = strconv.Itoa(status)
	c.detail["token"] = c.p.TokenID
	if c.resource != "" {
		c.detail["resource"] = c.resource
	}
	ev := audit.Event{Actor: c.actor.ID, Tenants: c.tenants, Action: "fhir." + c.action, Outcome: outcome, Detail: c.detail}
	switch {
	case c.detail["referral"] != "": // a part of the referral (record, patient)
		ev.ReferralID = c.detail["referral"]
	case c.resource == "Task" || c.resource == "ServiceRequest":
		ev.ReferralID = c.id
	}
	h.record(ctx, ev)
}

func (h *Handler) record(ctx context.Context, ev audit.Event) {
	for k, v := range ev.Detail {
		if v == "" {
			delete(ev.Detail, k)
		}
	}
	if err := h.svc.RecordAudit(context.WithoutCancel(ctx), ev); err != nil {
		h.log.ErrorContext(ctx, "audit fhir request", "action", ev.Action, "err", err)
	}
}

func (h *Handler) unknown(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	// R4: a server without conditional update, patch or delete answers
	// one (search criteria at a type whose instances take the method) 400.
	conditional := map[string]string{http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete"}
	if what, ok := conditional[r.Method]; ok && r.URL.RawQuery != "" {
		instance := *r.URL
		instance.Path, instance.RawPath = strings.TrimSuffix(r.URL.Path, "/")+"/id", ""
		if slices.Contains(h.allowed(&http.Request{URL: &instance, Host: r.Host}), r.Method) {
			return 0, newAPIError(http.StatusBadRequest, "not-supported", "conditional "+what+" is not supported: "+what+" a resource by its id")
		}
	}
	if allow := h.allowed(r); len(allow) > 0 {
		ae := newAPIError(http.StatusMethodNotAllowed, "not-supported", fmt.Sprintf("%s is not supported here (see /fhir/metadata)", r.Method))
		// RFC 9110 §15.5.6: a 405 names the methods that are supported.
		ae.header = map[string]string{"Allow": strings.Join(allow, ", ")}
		return 0, ae
	}
	return 0, newAPIError(http.StatusNotFound, "not-supported", fmt.Sprintf("%s %s is not supported by this server (see /fhir/metadata)", r.Method, r.URL.Path))
}

// allowed lists the methods some route serves at r's path, sorted; empty
// when only the catch-all matches it (the path is unknown).
func (h *Handler) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPatch, http.MethodPost, http.MethodPut} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := h.mux.Handler(probe); pattern != "" && pattern != catchAll {
			out = append(out, m)
		}
	}
	return out
}

// readBody reads a FHIR JSON request body, checking its media type. A FHIR
// resource (no types given) is also checked against the JSON format's own
// rules (checkJSONShape); a JSON Patch is not a resource.
func readBody(r *http.Request, types ...string) ([]byte, error) {
	resource := len(types) == 0
	if resource {
		types = []string{"application/fhir+json", "application/json"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	ok := false
	for _, t := range types {
		ok = ok || (err == nil && mt == t)
	}
	if !ok {
		return nil, newAPIError(http.StatusUnsupportedMediaType, "not-supported", "Content-Type must be "+strings.Join(types, " or "))
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newAPIError(http.StatusRequestEntityTooLarge, "too-costly", "request body too large")
		}
		return nil, fmt.Errorf("fhir api: read body: %w", err)
	}
	if resource {
		if err := checkJSONShape(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// writeJSON writes a resource with the FHIR media type.
func writeJSON(w http.ResponseWriter, status int, v any, hdr map[string]string) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception","diagnostics":"could not render the response"}]}`)
	}
	w.Header().Set("Content-Type", ContentType)
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
