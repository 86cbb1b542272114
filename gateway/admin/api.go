package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// maxBody bounds every JSON request body.
const maxBody = 1 << 20

func (s *Server) routeAPI() {
	m := s.mux
	m.HandleFunc("POST /admin/v1/login", s.apiLogin)
	m.HandleFunc("POST /admin/v1/logout", s.api(accessRead, s.apiLogout))
	m.HandleFunc("GET /admin/v1/session", s.api(accessRead, s.apiSession))
	m.HandleFunc("POST /admin/v1/accounts", s.api(accessAccounts, s.apiCreateAccount))
	m.HandleFunc("GET /admin/v1/entries", s.api(accessRead, s.apiListEntries))
	m.HandleFunc("POST /admin/v1/entries", s.api(accessDirectory, s.apiCreateEntry))
	m.HandleFunc("POST /admin/v1/entries/import", s.api(accessDirectory, s.apiImport))
	m.HandleFunc("GET /admin/v1/entries/{id}", s.api(accessRead, s.apiGetEntry))
	m.HandleFunc("PUT /admin/v1/entries/{id}", s.api(accessDirectory, s.apiUpdateEntry))
	m.HandleFunc("POST /admin/v1/entries/{id}/verify", s.api(accessDirectory, s.apiVerifyEntry))
	m.HandleFunc("GET /admin/v1/baas", s.api(accessRead, s.apiListBAAs))
	m.HandleFunc("POST /admin/v1/baas/{partyId}/transition", s.api(accessChange, s.apiBAATransition))
	m.HandleFunc("GET /admin/v1/referrals", s.api(accessPractice, s.apiListReferrals))
	m.HandleFunc("GET /admin/v1/referrals/{id}/timeline", s.api(accessPractice, s.apiTimeline))
	m.HandleFunc("GET /admin/v1/audit/verify", s.api(accessRead, s.apiVerifyAudit))
	m.HandleFunc("GET /admin/v1/health", s.api(accessRead, s.apiHealth))
	m.HandleFunc("/admin/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: problemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such API resource"})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads a JSON body into v, refusing unknown fields; the
// problem it returns names the offending field.
func decodeJSON(r io.Reader, v any) *Problem {
	dec := json.NewDecoder(io.LimitReader(r, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			p := invalid("body", "trailing data after the JSON object")
			return &p
		}
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "body"
		}
		p := invalid(field, "must be "+te.Type.String())
		return &p
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		if field == "" {
			field = "body"
		}
		p := invalid(field, "unknown field "+name)
		return &p
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		p := invalid("body", "a time is not RFC 3339")
		return &p
	}
	p := invalid("body", "not a JSON object")
	return &p
}

// loginRequest is the body of POST /admin/v1/login.
type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Code     string `json:"code"`
}

// sessionInfo tells a client who it is logged in as, for which practice
// (empty: gateway-wide), and its CSRF token.
type sessionInfo struct {
	Account  string `json:"account"`
	Role     Role   `json:"role"`
	Practice string `json:"practice,omitempty"`
	CSRF     string `json:"csrf"`
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	// Only a JSON body: a form on another site can post text/plain that
	// parses as JSON, but cannot send application/json without CORS.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeProblem(w, Problem{Type: problemValidation, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: "send the credentials as application/json", Errors: []FieldProblem{{Field: "Content-Type", Reason: "must be application/json"}}})
		return
	}
	var in loginRequest
	if p := decodeJSON(r.Body, &in); p != nil {
		writeProblem(w, *p)
		return
	}
	a, err := s.signIn(r, in.Name, in.Password, in.Code)
	var lf *loginFailure
	if errors.As(err, &lf) {
		if lf.retryAfter > 0 {
			w.Header().Set("Retry-After", lf.retryAfterSeconds())
			writeProblem(w, Problem{Type: problemThrottled, Title: "Too many attempts", Status: http.StatusTooManyRequests,
				Detail: "too many failed logins from here; try again after " + lf.retryAfterSeconds() + " seconds"})
			return
		}
		writeProblem(w, Problem{Type: problemAuth, Title: "Login failed", Status: http.StatusUnauthorized,
			Detail: "name, password or code is wrong"})
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	ss, err := s.startSession(w, r, a)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionInfo{Account: ss.Account, Role: ss.Role, Practice: ss.Practice, CSRF: ss.CSRF})
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := s.endSession(w, r, ss); err != nil {
		s.internalError(w, r, err)
		return
	}
	if err := s.audit(r.Context(), "user:"+ss.Account, "auth.logout", "success", map[string]string{"account": ss.Account}); err != nil {
		s.internalError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiSession(w http.ResponseWriter, r *http.Request, ss *session) {
	writeJSON(w, http.StatusOK, sessionInfo{Account: ss.Account, Role: ss.Role, Practice: ss.Practice, CSRF: ss.CSRF})
}

// accountRequest is the body of POST /admin/v1/accounts. Practice names
// the practice the account belongs to; empty makes it gateway-wide.
type accountRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     Role   `json:"role"`
	Practice string `json:"practice,omitempty"`
}

func (s *Server) apiCreateAccount(w http.ResponseWriter, r *http.Request, ss *session) {
	var in accountRequest
	if p := decodeJSON(r.Body, &in); p != nil {
		writeProblem(w, *p)
		return
	}
	uri, err := createAccount(r.Context(), s.svc, s.clock, "user:"+ss.Account, in.Name, in.Password, in.Role, in.Practice)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": in.Name, "totpUri": uri})
}

// apiError answers with the problem for err; only unexpected errors are logged.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status == http.StatusInternalServerError {
		s.internalError(w, r, err)
		return
	}
	s.auditForbidden(r, err)
	writeProblem(w, p)
}

// entryPage is one page of the directory.
type entryPage struct {
	Entries []*gateway.Entry `json:"entries"`
	Next    string           `json:"next,omitempty"` // pass as after= for the next page
}

func (s *Server) apiListEntries(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	kind := gateway.EntryKind(q.Get("kind"))
	switch kind {
	case "", gateway.KindOrganization, gateway.KindLocation, gateway.KindPractitioner, gateway.KindVendor:
	default:
		writeProblem(w, invalid("kind", "must be organization, location, practitioner or vendor"))
		return
	}
	limit, err := parseLimit(q.Get("limit"), 50)
	if err != nil {
		writeProblem(w, invalid("limit", err.Error()))
		return
	}
	list, err := s.svc.ListEntries(r.Context(), gateway.EntryQuery{Kind: kind, Search: q.Get("search"), AfterID: q.Get("after"), Limit: limit})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	page := entryPage{Entries: list}
	if page.Entries == nil {
		page.Entries = []*gateway.Entry{}
	}
	if len(list) == limit {
		page.Next = list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, page)
}

func setETag(w http.ResponseWriter, version int) {
	w.Header().Set("ETag", `"`+strconv.Itoa(version)+`"`)
}

func (s *Server) apiGetEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	e, err := s.svc.Entry(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	setETag(w, e.Version)
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) apiCreateEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	var e gateway.Entry
	if p := decodeJSON(r.Body, &e); p != nil {
		writeProblem(w, *p)
		return
	}
	if e.ID != "" {
		if _, err := s.svc.Entry(r.Context(), e.ID); err == nil {
			writeProblem(w, Problem{Type: problemConflict, Title: "Already exists", Status: http.StatusConflict,
				Detail: "an entry with this id exists; update it with PUT", Errors: []FieldProblem{{Field: "id", Reason: "already taken"}}})
			return
		}
	}
	e.Version, e.Verification = 0, nil
	saved, err := s.svc.PutEntry(r.Context(), ss.actor(), &e)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/v1/entries/"+saved.ID)
	setETag(w, saved.Version)
	writeJSON(w, http.StatusCreated, saved)
}

// parseIfMatch reads the version an If-Match header names ("3" or "\"3\"", W/ allowed).
func parseIfMatch(h string) (int, error) {
	h = strings.TrimPrefix(strings.TrimSpace(h), "W/")
	n, err := strconv.Atoi(strings.Trim(h, `"`))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("must name the version read, e.g. \"3\"")
	}
	return n, nil
}

func (s *Server) apiUpdateEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PathValue("id")
	if r.Header.Get("If-Match") == "" {
		writeProblem(w, Problem{Type: problemPrecondition, Title: "Precondition required", Status: http.StatusPreconditionRequired,
			Detail: "send If-Match with the version you read", Errors: []FieldProblem{{Field: "If-Match", Reason: "required"}}})
		return
	}
	version, err := parseIfMatch(r.Header.Get("If-Match"))
	if err != nil {
		writeProblem(w, invalid("If-Match", err.Error()))
		return
	}
	var e gateway.Entry
	if p := decodeJSON(r.Body, &e); p != nil {
		writeProblem(w, *p)
		return
	}
	if e.ID != "" && e.ID != id {
		writeProblem(w, invalid("id", "does not match the URL"))
		return
	}
	if _, err := s.svc.Entry(r.Context(), id); err != nil {
		s.apiError(w, r, err)
		return
	}
	e.ID, e.Version, e.Verification = id, version, nil
	saved, err := s.svc.PutEntry(r.Context(), ss.actor(), &e)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	setETag(w, saved.Version)
	writeJSON(w, http.StatusOK, saved)
}

// verifyRequest is the body of POST /admin/v1/entries/{id}/verify.
type verifyRequest struct {
	Method string `json:"method"`
}

func (s *Server) apiVerifyEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	var in verifyRequest
	if p := decodeJSON(r.Body, &in); p != nil {
		writeProblem(w, *p)
		return
	}
	e, err := s.svc.VerifyEntry(r.Context(), ss.actor(), r.PathValue("id"), strings.TrimSpace(in.Method))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	setETag(w, e.Version)
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) apiListBAAs(w http.ResponseWriter, r *http.Request, ss *session) {
	rows, err := s.baaBoard(r.Context(), false)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"baas": rows})
}

// baaRequest is the body of POST /admin/v1/baas/{partyId}/transition.
type baaRequest struct {
	State    gateway.BAAState `json:"state"`
	Start    time.Time        `json:"start,omitzero"`
	End      time.Time        `json:"end,omitzero"`
	Document string           `json:"document,omitempty"`
}

func (s *Server) apiBAATransition(w http.ResponseWriter, r *http.Request, ss *session) {
	var in baaRequest
	if p := decodeJSON(r.Body, &in); p != nil {
		writeProblem(w, *p)
		return
	}
	if !validBAAState(in.State) {
		writeProblem(w, invalid("state", "must be one of draft, sent, active, expiring, expired, terminated"))
		return
	}
	b, err := s.svc.SetBAA(r.Context(), ss.actor(), gateway.BAAChange{PartyID: r.PathValue("partyId"), State: in.State,
		Start: in.Start, End: in.End, Document: in.Document})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, BAARow{BAA: b, Effective: b.Effective(s.clock.Now(), s.svc.Config().BAAWarningWindow)})
}

func validBAAState(st gateway.BAAState) bool {
	for _, s := range gateway.BAAStates {
		if s == st {
			return true
		}
	}
	return false
}

// referralPage is one page of the tracker.
type referralPage struct {
	Referrals []ReferralRow `json:"referrals"`
	Next      string        `json:"next,omitempty"`
}

func (s *Server) apiListReferrals(w http.ResponseWriter, r *http.Request, ss *session) {
	f, errs := parseReferralFilter(r.URL.Query().Get)
	if len(errs) > 0 {
		writeProblem(w, problemFor(errs))
		return
	}
	rows, next, err := s.referrals(r.Context(), f)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, referralPage{Referrals: rows, Next: next})
}

func (s *Server) apiTimeline(w http.ResponseWriter, r *http.Request, ss *session) {
	t, err := s.timeline(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) apiVerifyAudit(w http.ResponseWriter, r *http.Request, ss *session) {
	rep, err := s.verifyAudit(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) apiHealth(w http.ResponseWriter, r *http.Request, ss *session) {
	h, err := s.health(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}
