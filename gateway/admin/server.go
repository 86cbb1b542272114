package admin

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// Config tunes the admin face. The zero value works.
type Config struct {
	// Clock tells the time for sessions, lockouts, TOTP and health windows;
	// nil uses the service's clock.
	Clock gateway.Clock
	// SessionIdle is how long a session lives without a request (default 15m).
	SessionIdle time.Duration
	// SessionMax is how long a session lives after sign-in however busy
	// it is (default 12h).
	SessionMax time.Duration
	// Secure sets the Secure flag on the session cookie even on requests
	// that arrived without TLS (behind a TLS-terminating proxy); requests
	// over TLS always get it.
	Secure bool
	// CertWarningWindow is how long before expiry a Direct certificate is
	// reported on the health page (default 30 days).
	CertWarningWindow time.Duration
	// Logger receives ids and metadata of internal errors; nil discards.
	Logger *slog.Logger
	// Clients manages FHIR client registrations under /admin/v1/clients;
	// nil answers those routes with 501 Not Implemented.
	Clients ClientRegistry
	// Build is the one-line build description (version, commit, Go)
	// shown in the console footer; empty shows no footer.
	Build string
}

// DefaultSessionIdle is the idle timeout of a session when Config leaves it zero.
const DefaultSessionIdle = 15 * time.Minute

// DefaultSessionMax is the absolute lifetime of a session when Config leaves it zero.
const DefaultSessionMax = 12 * time.Hour

// DefaultCertWarningWindow is the certificate warning window when Config leaves it zero.
const DefaultCertWarningWindow = 30 * 24 * time.Hour

// Server serves the admin API (/admin/v1/) and the console (/admin/).
// Mount it at "/admin/"; it is safe for concurrent use.
type Server struct {
	svc   *gateway.Service
	cfg   Config
	clock gateway.Clock
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	gate  *loginGate
}

// New builds the admin server over svc.
func New(svc *gateway.Service, cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = svc.Clock()
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = DefaultSessionMax
	}
	if cfg.CertWarningWindow <= 0 {
		cfg.CertWarningWindow = DefaultCertWarningWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: svc, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, mux: http.NewServeMux(), pages: parsePages(),
		gate: newLoginGate()}
	s.routeAPI()
	s.routeOpenAPI()
	s.routeClientsAPI()
	s.routeConsole()
	s.routeCompliance()
	s.routeInbox()
	s.routeDirectoryChecks()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	s.mux.ServeHTTP(w, r)
}

// access is what a handler needs the session's role to allow.
type access int

const (
	accessRead access = iota
	accessChange
	accessAccounts
	accessClients
	// accessDirectory changes the shared directory: gateway-wide
	// operators and admins only.
	accessDirectory
	// accessPractice reads a practice's referrals: practice accounts only
	// (a gateway-wide account sees no practice's referrals).
	accessPractice
	// accessPracticeChange changes a practice's referrals: practice
	// operators and admins.
	accessPracticeChange
)

// allowedFor says whether ss may, and why not when it may not.
func (a access) allowedFor(ss *session) (bool, string) {
	r, wide := ss.Role, ss.Practice == ""
	switch a {
	case accessRead:
		return r.valid(), "role " + string(r)
	case accessChange:
		return r.CanChange(), "role " + string(r)
	case accessAccounts:
		if !r.CanManageAccounts() {
			return false, "role " + string(r)
		}
		return wide, "accounts are managed by gateway-wide admins"
	case accessClients:
		if !r.CanManageClients() {
			return false, "role " + string(r)
		}
		return wide, "FHIR clients are managed by gateway-wide admins"
	case accessDirectory:
		if !r.CanChange() {
			return false, "role " + string(r)
		}
		return wide, "the directory is changed by gateway-wide accounts"
	case accessPractice:
		return r.valid() && !wide, "referrals belong to a practice: a gateway-wide account does not see them"
	case accessPracticeChange:
		if !r.CanChange() {
			return false, "role " + string(r)
		}
		return !wide, "referrals belong to a practice: a gateway-wide account does not change them"
	}
	return false, "unknown access"
}

// authedHandler is a handler that runs with a valid session.
type authedHandler func(w http.ResponseWriter, r *http.Request, ss *session)

// guard resolves the session, then checks CSRF on state-changing methods and
// the role. It returns the session and the request acting for its practice
// (or on the console's gateway-wide path), or nil after calling refuse with
// the HTTP status to answer.
func (s *Server) guard(w http.ResponseWriter, r *http.Request, need access, refuse func(status int, msg string)) (*session, *http.Request) {
	ss, err := s.currentSession(r)
	if errors.Is(err, errNoSession) {
		refuse(http.StatusUnauthorized, "log in first")
		return nil, nil
	} else if err != nil {
		s.log.ErrorContext(r.Context(), "admin: session lookup failed", "err", err)
		refuse(http.StatusInternalServerError, "internal error")
		return nil, nil
	}
	r = r.WithContext(context.WithValue(ss.scope(r.Context()), sessionKey{}, ss))
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !ss.csrfOK(r) {
		s.refusal(r, ss, "admin.csrf-refused", "csrf token missing or wrong")
		if strings.HasPrefix(r.URL.Path, "/admin/v1/") {
			refuse(http.StatusForbidden, "missing or wrong X-CSRF-Token header: send the csrf value of the login response (or of GET /admin/v1/session)")
		} else {
			refuse(http.StatusForbidden, "the form has expired or did not come from this console; reload the page and try again")
		}
		return nil, nil
	}
	if ok, why := need.allowedFor(ss); !ok {
		s.refusal(r, ss, "admin.refused", why)
		if strings.HasPrefix(why, "role ") {
			refuse(http.StatusForbidden, "your role ("+string(ss.Role)+") may not do this")
		} else {
			refuse(http.StatusForbidden, why)
		}
		return nil, nil
	}
	return ss, r
}

// sessionKey carries a request's session in its context, so that a
// refusal the core answers is audited as the account's.
type sessionKey struct{}

// auditForbidden records a change the core refused to the account (a
// practice's account reaching past its practice), as guard records the
// refusals it makes itself.
func (s *Server) auditForbidden(r *http.Request, err error) {
	if ss, ok := r.Context().Value(sessionKey{}).(*session); ok && errors.Is(err, gateway.ErrForbidden) {
		s.refusal(r, ss, "admin.refused", err.Error())
	}
}

// refusal audits a refused request by its route, never its content.
func (s *Server) refusal(r *http.Request, ss *session, action, reason string) {
	err := s.audit(r.Context(), "user:"+ss.Account, action, "refused",
		map[string]string{"route": r.Method + " " + r.Pattern, "reason": reason})
	if err != nil {
		s.log.ErrorContext(r.Context(), "admin: audit refusal failed", "err", err)
	}
}

// api wraps an API handler: problem+json for every refusal.
func (s *Server) api(need access, h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, r := s.guard(w, r, need, func(status int, msg string) {
			typ := problemForbidden
			switch status {
			case http.StatusUnauthorized:
				typ = problemAuth
			case http.StatusInternalServerError:
				typ = problemInternal
			}
			writeProblem(w, Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: msg})
		})
		if ss != nil {
			w.Header().Set("Cache-Control", "no-store")
			h(w, r, ss)
		}
	}
}

// page wraps a console handler: an unauthenticated visitor goes to the
// login page, other refusals get an error page.
func (s *Server) page(need access, h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, r := s.guard(w, r, need, func(status int, msg string) {
			if status == http.StatusUnauthorized {
				http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
				return
			}
			s.renderError(w, r, nil, status, msg)
		})
		if ss != nil {
			w.Header().Set("Cache-Control", "no-store")
			h(w, r, ss)
		}
	}
}

// internalError logs err (ids and metadata only) and answers with a 500.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "admin: request failed", "route", r.Pattern, "err", err)
	writeProblem(w, problemFor(err))
}
