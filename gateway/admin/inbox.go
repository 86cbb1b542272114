package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

// routeInbox adds the inbox of received Direct mail — new messages,
// replies and receipts, unmatched ones and the quarantine — to the console
// and the JSON API. A practice account sees its practice's messages only;
// a gateway-wide account sees all, including mail no practice owns.
func (s *Server) routeInbox() {
	m := s.mux
	m.HandleFunc("GET /admin/inbox", s.page(accessRead, s.inboxPage))
	m.HandleFunc("GET /admin/inbox/{id}", s.page(accessRead, s.inboxEntryPage))
	m.HandleFunc("POST /admin/inbox/{id}/release", s.page(accessChange, s.inboxDecideSubmit(true)))
	m.HandleFunc("POST /admin/inbox/{id}/reject", s.page(accessChange, s.inboxDecideSubmit(false)))
	m.HandleFunc("GET /admin/v1/inbox", s.api(accessRead, s.apiListInbox))
	m.HandleFunc("GET /admin/v1/inbox/{id}", s.api(accessRead, s.apiGetInbox))
	m.HandleFunc("POST /admin/v1/inbox/{id}/release", s.api(accessChange, s.apiDecideInbox(true)))
	m.HandleFunc("POST /admin/v1/inbox/{id}/reject", s.api(accessChange, s.apiDecideInbox(false)))
}

// inboxQuery reads state, practice, before and limit; a practice account's
// query is held to its own practice.
func inboxQuery(v url.Values, ss *session) (gateway.InboundQuery, error) {
	q := gateway.InboundQuery{State: gateway.InboundState(v.Get("state")), Tenant: strings.TrimSpace(v.Get("practice")), BeforeID: v.Get("before")}
	if q.State != "" && !gateway.ValidInboundState(q.State) {
		return q, &gateway.ValidationError{Field: "state", Reason: "must be received, new, matched, unmatched, quarantined or rejected"}
	}
	limit, err := parseLimit(v.Get("limit"), 50)
	if err != nil {
		return q, &gateway.ValidationError{Field: "limit", Reason: err.Error()}
	}
	q.Limit = limit
	if ss.Practice != "" {
		q.Tenant = ss.Practice
	}
	return q, nil
}

// inboxPageJSON is one page of the inbox.
type inboxPageJSON struct {
	Messages []*gateway.InboundMessage `json:"messages"`
	Next     string                    `json:"next,omitempty"` // pass as before= for the next page
}

func (s *Server) listInbox(ctx context.Context, v url.Values, ss *session) (inboxPageJSON, gateway.InboundQuery, error) {
	q, err := inboxQuery(v, ss)
	if err != nil {
		return inboxPageJSON{}, q, err
	}
	list, err := s.svc.ListInbound(ctx, q)
	if err != nil {
		return inboxPageJSON{}, q, err
	}
	p := inboxPageJSON{Messages: list}
	if p.Messages == nil {
		p.Messages = []*gateway.InboundMessage{}
	}
	if len(list) == q.Limit {
		p.Next = list[len(list)-1].ID
	}
	return p, q, nil
}

// inboxEntry is one received message with the MDNs sent about it.
type inboxEntry struct {
	Message *gateway.InboundMessage `json:"message"`
	Notices []*gateway.Notice       `json:"notices"`
}

// inboxEntryFor loads a message the session may see: another practice's
// message is not found.
func (s *Server) inboxEntryFor(ctx context.Context, id string, ss *session) (*inboxEntry, error) {
	m, err := s.svc.Inbound(ctx, id)
	if err != nil {
		return nil, err
	}
	if ss.Practice != "" && !slices.Contains(m.Tenants, ss.Practice) {
		return nil, errors.Join(errors.New("inbound message "+id), gateway.ErrNotFound)
	}
	ns, err := s.svc.Notices(ctx, id)
	if err != nil {
		return nil, err
	}
	if ns == nil {
		ns = []*gateway.Notice{}
	}
	return &inboxEntry{Message: m, Notices: ns}, nil
}

func (s *Server) apiListInbox(w http.ResponseWriter, r *http.Request, ss *session) {
	p, _, err := s.listInbox(r.Context(), r.URL.Query(), ss)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) apiGetInbox(w http.ResponseWriter, r *http.Request, ss *session) {
	e, err := s.inboxEntryFor(r.Context(), r.PathValue("id"), ss)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// decisionRequest is the body of POST /admin/v1/inbox/{id}/release|reject.
type decisionRequest struct {
	Reason string `json:"reason"`
}

// decide releases or rejects a quarantined message on the session's
// behalf; the core audits the decision and refuses another practice's.
func (s *Server) decide(ctx context.Context, ss *session, id, reason string, release bool) (*gateway.InboundMessage, error) {
	if _, err := s.inboxEntryFor(ctx, id, ss); err != nil {
		return nil, err
	}
	if release {
		return s.svc.ReleaseInbound(ctx, ss.actor(), id, reason)
	}
	return s.svc.RejectInbound(ctx, ss.actor(), id, reason)
}

func (s *Server) apiDecideInbox(release bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		var in decisionRequest
		if p := decodeJSON(r.Body, &in); p != nil {
			writeProblem(w, *p)
			return
		}
		m, err := s.decide(r.Context(), ss, r.PathValue("id"), in.Reason, release)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, m)
	}
}

// inboxData is the inbox page.
type inboxData struct {
	State, Practice string
	States          []gateway.InboundState
	Page            inboxPageJSON
}

func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request, ss *session) {
	p, q, err := s.listInbox(r.Context(), r.URL.Query(), ss)
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	d := &inboxData{State: string(q.State), Practice: q.Tenant, Page: p, States: []gateway.InboundState{
		gateway.InboundNew, gateway.InboundMatched, gateway.InboundUnmatched, gateway.InboundQuarantined,
		gateway.InboundRejected, gateway.InboundReceived}}
	s.render(w, r, http.StatusOK, "inbox", view{Title: "Direct inbox", Nav: "inbox", Session: ss, Data: d,
		Notice: r.URL.Query().Get("notice")})
}

func (s *Server) inboxEntryPage(w http.ResponseWriter, r *http.Request, ss *session) {
	e, err := s.inboxEntryFor(r.Context(), r.PathValue("id"), ss)
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "inbox_entry", view{Title: "Received message", Nav: "inbox", Session: ss, Data: e,
		Notice: r.URL.Query().Get("notice")})
}

func (s *Server) inboxDecideSubmit(release bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		id := r.PathValue("id")
		m, err := s.decide(r.Context(), ss, id, r.PostFormValue("reason"), release)
		if err != nil {
			s.consoleError(w, r, ss, err)
			return
		}
		notice := "Rejected; the message stays stored."
		if release {
			notice = "Released; the message is being processed again."
		}
		http.Redirect(w, r, "/admin/inbox/"+url.PathEscape(m.ID)+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
	}
}
