package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

// ClientRegistry keeps the FHIR client registrations (SMART Backend
// Services clients) the admin face manages; cmd wires it to the FHIR
// side's store, which this package must not import. Register and
// SetDisabled audit the change themselves. Input the registry refuses is
// reported as gateway.ValidationError(s) naming the field ("scopes[1]",
// "jwks"); an unregistered id wraps gateway.ErrNotFound.
type ClientRegistry interface {
	// Clients lists every registration in id order.
	Clients(ctx context.Context) ([]ClientInfo, error)
	// Register adds c, or replaces the registration with the same id,
	// with jwks the raw JWKS document; an empty c.ID gets a new id.
	Register(ctx context.Context, actor string, c ClientInfo, jwks []byte) (ClientInfo, error)
	// SetDisabled turns a client's disabled flag on or off.
	SetDisabled(ctx context.Context, actor, id string, disabled bool) (ClientInfo, error)
}

// ClientInfo is one FHIR client registration as admins see it: never its
// keys, only their ids.
type ClientInfo struct {
	ID       string   `json:"id"`
	OrgID    string   `json:"orgId"`
	Scopes   []string `json:"scopes"`
	KeyIDs   []string `json:"keyIds"` // ignored on Register: the JWKS names them
	Disabled bool     `json:"disabled"`
}

// problemNotConfigured marks a feature this gateway was started without.
const problemNotConfigured = "urn:referralgw:admin:problem:not-configured"

// clientIDPattern is what an administrator may choose as a client_id.
var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (s *Server) routeClientsAPI() {
	m := s.mux
	m.HandleFunc("GET /admin/v1/clients", s.api(accessRead, s.withClients(s.apiListClients)))
	m.HandleFunc("POST /admin/v1/clients", s.api(accessClients, s.withClients(s.apiRegisterClient)))
	m.HandleFunc("GET /admin/v1/clients/{id}", s.api(accessRead, s.withClients(s.apiGetClient)))
	m.HandleFunc("POST /admin/v1/clients/{id}/disable", s.api(accessClients, s.withClients(s.apiSetClientDisabled(true))))
	m.HandleFunc("POST /admin/v1/clients/{id}/enable", s.api(accessClients, s.withClients(s.apiSetClientDisabled(false))))
}

// withClients answers 501 when the gateway runs without a client registry;
// it runs after the session and role checks, so only a logged-in
// administrator learns how the gateway is configured.
func (s *Server) withClients(h authedHandler) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		if s.cfg.Clients == nil {
			writeProblem(w, Problem{Type: problemNotConfigured, Title: "Not implemented", Status: http.StatusNotImplemented,
				Detail: "FHIR clients are not configured on this gateway"})
			return
		}
		h(w, r, ss)
	}
}

func (s *Server) apiListClients(w http.ResponseWriter, r *http.Request, ss *session) {
	list, err := s.cfg.Clients.Clients(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if list == nil {
		list = []ClientInfo{}
	}
	writeJSON(w, http.StatusOK, map[string][]ClientInfo{"clients": list})
}

// findClient returns the registration with id, or ok false.
func (s *Server) findClient(ctx context.Context, id string) (ClientInfo, bool, error) {
	list, err := s.cfg.Clients.Clients(ctx)
	if err != nil {
		return ClientInfo{}, false, err
	}
	for _, c := range list {
		if c.ID == id {
			return c, true, nil
		}
	}
	return ClientInfo{}, false, nil
}

func (s *Server) apiGetClient(w http.ResponseWriter, r *http.Request, ss *session) {
	c, ok, err := s.findClient(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if !ok {
		writeProblem(w, Problem{Type: problemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such FHIR client"})
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// clientRequest is the body of POST /admin/v1/clients.
type clientRequest struct {
	ID     string          `json:"id"`
	OrgID  string          `json:"orgId"`
	Scopes []string        `json:"scopes"`
	JWKS   json.RawMessage `json:"jwks"`
}

// checkClientRequest finds what the admin face can tell without the
// registry: the request's shape and an organization in the directory.
func (s *Server) checkClientRequest(ctx context.Context, in *clientRequest) (gateway.ValidationErrors, error) {
	errs := clientRequestShape(in)
	if in.OrgID == "" {
		return errs, nil
	}
	e, err := s.svc.Entry(ctx, in.OrgID)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		errs = append(errs, &gateway.ValidationError{Field: "orgId", Reason: "no such organization in the directory"})
	case err != nil:
		return nil, err
	case e.Kind != gateway.KindOrganization:
		errs = append(errs, &gateway.ValidationError{Field: "orgId", Reason: "names a " + string(e.Kind) + ", not an organization"})
	}
	return errs, nil
}

// clientRequestShape checks the id's form, that an organization is named,
// that there are scopes (one per element) and that the JWKS is at least
// a JSON object; it trims in.OrgID.
func clientRequestShape(in *clientRequest) gateway.ValidationErrors {
	var errs gateway.ValidationErrors
	add := func(field, reason string) {
		errs = append(errs, &gateway.ValidationError{Field: field, Reason: reason})
	}
	if in.ID != "" && !clientIDPattern.MatchString(in.ID) {
		add("id", "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	in.OrgID = strings.TrimSpace(in.OrgID)
	if in.OrgID == "" {
		add("orgId", "required")
	}
	if len(in.Scopes) == 0 {
		add("scopes", "at least one scope is required")
	}
	for i, sc := range in.Scopes {
		if strings.TrimSpace(sc) == "" || strings.ContainsAny(sc, " \t\r\n") {
			add("scopes["+strconv.Itoa(i)+"]", "must be one scope such as system/Task.rs")
		}
	}
	if trimmed := bytes.TrimSpace(in.JWKS); len(trimmed) == 0 || trimmed[0] != '{' {
		add("jwks", "required: a JWKS document, a JSON object with \"keys\"")
	}
	return errs
}

func (s *Server) apiRegisterClient(w http.ResponseWriter, r *http.Request, ss *session) {
	var in clientRequest
	if p := decodeJSON(r.Body, &in); p != nil {
		writeProblem(w, *p)
		return
	}
	errs, err := s.checkClientRequest(r.Context(), &in)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if len(errs) > 0 {
		writeProblem(w, problemFor(errs))
		return
	}
	c := ClientInfo{ID: in.ID, OrgID: in.OrgID, Scopes: in.Scopes}
	status := http.StatusCreated
	if in.ID != "" {
		old, exists, err := s.findClient(r.Context(), in.ID)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if exists {
			// A re-registration (new keys or scopes) keeps the client
			// disabled if it was: enabling is its own, explicit step.
			status, c.Disabled = http.StatusOK, old.Disabled
		}
	}
	saved, err := s.cfg.Clients.Register(r.Context(), ss.actor().ID, c, in.JWKS)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/v1/clients/"+saved.ID)
	writeJSON(w, status, saved)
}

func (s *Server) apiSetClientDisabled(disabled bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		c, err := s.cfg.Clients.SetDisabled(r.Context(), ss.actor().ID, r.PathValue("id"), disabled)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, c)
	}
}

// clientsPage lists the FHIR client registrations, read-only.
func (s *Server) clientsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	if s.cfg.Clients == nil {
		s.renderError(w, r, ss, http.StatusNotImplemented, "FHIR clients are not configured on this gateway.")
		return
	}
	list, err := s.cfg.Clients.Clients(r.Context())
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "clients", view{Title: "FHIR clients", Nav: "clients", Session: ss, Data: list})
}
