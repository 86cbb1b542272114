package admin

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/referralgw/gateway/gateway"
)

// CheckRequested answers a request for a directory check round.
type CheckRequested struct {
	// After is how many rounds had started: the round that answers the
	// request is numbered above it.
	After int `json:"after"`
	// Status is the newest round as the request left it.
	Status *gateway.DirectoryRound `json:"status"`
}

// routeDirectoryChecks serves the directory check rounds: the newest
// round's progress (read by every role) and a request for a round now
// (gateway-wide operators and admins; the core audits it).
func (s *Server) routeDirectoryChecks() {
	m := s.mux
	m.HandleFunc("GET /admin/v1/directory/checks", s.api(accessRead, s.apiDirectoryChecks))
	m.HandleFunc("POST /admin/v1/directory/checks", s.api(accessDirectory, s.apiRequestDirectoryCheck))
	m.HandleFunc("POST /admin/health/checks", s.page(accessDirectory, s.requestCheckSubmit))
}

func (s *Server) apiDirectoryChecks(w http.ResponseWriter, r *http.Request, ss *session) {
	st, err := s.svc.DirectoryRound(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// apiRequestDirectoryCheck answers 202: the round is queued, and a
// running serve (this one) starts it within a poll of the queue.
func (s *Server) apiRequestDirectoryCheck(w http.ResponseWriter, r *http.Request, ss *session) {
	after, err := s.svc.RequestDirectoryCheck(r.Context(), ss.actor(), "asked")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	st, err := s.svc.DirectoryRound(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/v1/directory/checks")
	writeJSON(w, http.StatusAccepted, CheckRequested{After: after, Status: st})
}

func (s *Server) requestCheckSubmit(w http.ResponseWriter, r *http.Request, ss *session) {
	after, err := s.svc.RequestDirectoryCheck(r.Context(), ss.actor(), "asked")
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	notice := fmt.Sprintf("Check requested: round %d or later checks every entry with an endpoint. Reload this page to follow it.", after+1)
	http.Redirect(w, r, "/admin/health?notice="+url.QueryEscape(notice)+"#checks", http.StatusSeeOther)
}

// healthData is the health page: the directory's health, the newest
// check round, and whether the account may ask for one.
type healthData struct {
	*Health
	Checks     *gateway.DirectoryRound
	CanRequest bool
}
