package admin

import (
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

//go:embed templates/*.html static/console.css
var assets embed.FS

// pageNames are the console's pages; each is parsed with the layout.
var pageNames = []string{"login", "error", "directory", "entry", "baas", "referrals", "timeline", "audit", "health", "import", "clients", "reports", "receipt", "inbox", "inbox_entry"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.DateOnly)
	},
	"baaLabel": func(s gateway.BAAState) string {
		if s == "" {
			return "none on file"
		}
		return string(s)
	},
	"baaStates": func() []gateway.BAAState { return gateway.BAAStates },
	// settable are the stored states an admin can move a BAA to; expiring
	// and expired follow from the end date.
	"settable": func() []gateway.BAAState {
		return []gateway.BAAState{gateway.BAADraft, gateway.BAASent, gateway.BAAActive, gateway.BAATerminated}
	},
	"statuses": func() []gateway.Status { return gateway.Statuses },
	"kinds": func() []gateway.EntryKind {
		return []gateway.EntryKind{gateway.KindOrganization, gateway.KindLocation, gateway.KindPractitioner, gateway.KindVendor}
	},
	"channels": func() []gateway.ChannelKind { return gateway.DefaultChannelOrder },
	"join": func(list []gateway.ChannelKind) string {
		var s []string
		for _, k := range list {
			s = append(s, string(k))
		}
		return strings.Join(s, ", ")
	},
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"query": func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v.Encode()
	},
}

// parsePages parses every page with the shared layout. The templates are
// embedded, so a parse error is a build defect and panics at start-up.
func parsePages() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}

// view is what every page template receives.
type view struct {
	Title   string
	Nav     string // which navigation item is current
	Session *session
	Error   string // a message for the whole page (role="alert")
	Notice  string // a confirmation (role="status")
	Data    any
	Build   string // the footer's build line, from Config.Build
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	v.Build = s.cfg.Build
	if err := s.pages[page].ExecuteTemplate(w, "layout", v); err != nil {
		s.log.ErrorContext(r.Context(), "admin: render failed", "page", page, "err", err)
	}
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, ss *session, status int, msg string) {
	s.render(w, r, status, "error", view{Title: http.StatusText(status), Session: ss, Error: msg})
}

// consoleError shows the error page for err; internal errors are logged.
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	p := problemFor(err)
	if p.Status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "admin: page failed", "route", r.Pattern, "err", err)
		s.renderError(w, r, ss, p.Status, "Something went wrong; the error was logged.")
		return
	}
	s.auditForbidden(r, err)
	msg := p.Title
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	s.renderError(w, r, ss, p.Status, msg)
}

func (s *Server) routeConsole() {
	m := s.mux
	m.HandleFunc("GET /admin/static/console.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		http.ServeFileFS(w, r, assets, "static/console.css")
	})
	m.HandleFunc("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/directory", http.StatusSeeOther)
	})
	m.HandleFunc("GET /admin/login", s.loginPage)
	m.HandleFunc("POST /admin/login", s.loginSubmit)
	m.HandleFunc("POST /admin/logout", s.page(accessRead, s.logoutSubmit))
	m.HandleFunc("GET /admin/directory", s.page(accessRead, s.directoryPage))
	m.HandleFunc("GET /admin/directory/new", s.page(accessDirectory, s.newEntryPage))
	m.HandleFunc("POST /admin/directory/new", s.page(accessDirectory, s.saveEntry))
	m.HandleFunc("GET /admin/directory/import", s.page(accessDirectory, s.importPage))
	m.HandleFunc("POST /admin/directory/import", limitBody(maxImport, s.page(accessDirectory, s.importSubmit)))
	m.HandleFunc("GET /admin/directory/{id}", s.page(accessRead, s.entryPage))
	m.HandleFunc("POST /admin/directory/{id}", s.page(accessDirectory, s.saveEntry))
	m.HandleFunc("POST /admin/directory/{id}/verify", s.page(accessDirectory, s.verifySubmit))
	m.HandleFunc("GET /admin/baas", s.page(accessRead, s.baasPage))
	m.HandleFunc("POST /admin/baas/{partyId}", s.page(accessChange, s.baaSubmit))
	m.HandleFunc("GET /admin/referrals", s.page(accessPractice, s.referralsPage))
	m.HandleFunc("GET /admin/referrals/{id}", s.page(accessPractice, s.timelinePage))
	m.HandleFunc("GET /admin/audit", s.page(accessRead, s.auditPage))
	m.HandleFunc("GET /admin/health", s.page(accessRead, s.healthPage))
	m.HandleFunc("GET /admin/clients", s.page(accessRead, s.clientsPage))
	m.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
}

// loginData is the login form as last submitted (never the password or
// code) with its anti-forgery token.
type loginData struct{ Name, CSRF string }

// loginCookie carries the login form's anti-forgery token (double submit):
// a page on another site can post the form but cannot read or set the cookie.
const loginCookie = "gw_admin_login"

// loginForm renders the login page with a fresh anti-forgery token.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, status int, msg, name string) {
	token, err := randomToken()
	if err != nil {
		s.consoleError(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: token, Path: "/admin/login", HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	s.render(w, r, status, "login", view{Title: "Log in", Error: msg, Data: loginData{Name: name, CSRF: token}})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := s.currentSession(r); err == nil {
		http.Redirect(w, r, "/admin/directory", http.StatusSeeOther)
		return
	}
	s.loginForm(w, r, http.StatusOK, "", "")
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	name := strings.TrimSpace(r.PostFormValue("name"))
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		s.loginForm(w, r, http.StatusForbidden, "The login form expired or did not come from this console; please try again.", name)
		return
	}
	a, err := s.signIn(r, name, r.PostFormValue("password"), strings.TrimSpace(r.PostFormValue("code")))
	var lf *loginFailure
	if errors.As(err, &lf) {
		msg := "The name, password or code is wrong."
		status := http.StatusUnauthorized
		if lf.retryAfter > 0 {
			msg, status = "Too many failed logins from here: please wait "+lf.retryAfterSeconds()+" seconds and try again.", http.StatusTooManyRequests
			w.Header().Set("Retry-After", lf.retryAfterSeconds())
		}
		s.loginForm(w, r, status, msg, name)
		return
	} else if err != nil {
		s.consoleError(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/admin/login", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	if _, err := s.startSession(w, r, a); err != nil {
		s.consoleError(w, r, nil, err)
		return
	}
	http.Redirect(w, r, "/admin/directory", http.StatusSeeOther)
}

func (s *Server) logoutSubmit(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := s.endSession(w, r, ss); err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	if err := s.audit(r.Context(), "user:"+ss.Account, "auth.logout", "success", map[string]string{"account": ss.Account}); err != nil {
		s.consoleError(w, r, nil, err)
		return
	}
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// directoryData is the directory list page.
type directoryData struct {
	Search  string
	Kind    string
	Entries []*gateway.Entry
	Next    string
	BAAs    map[string]gateway.BAAState
}

func (s *Server) directoryPage(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	d := directoryData{Search: q.Get("search"), Kind: q.Get("kind"), BAAs: map[string]gateway.BAAState{}}
	const limit = 100
	list, err := s.svc.ListEntries(r.Context(), gateway.EntryQuery{Search: d.Search, Kind: gateway.EntryKind(d.Kind), AfterID: q.Get("after"), Limit: limit})
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	d.Entries = list
	if len(list) == limit {
		d.Next = list[len(list)-1].ID
	}
	rows, err := s.baaBoard(r.Context(), false)
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	for _, row := range rows {
		d.BAAs[row.BAA.PartyID] = row.Effective
	}
	s.render(w, r, http.StatusOK, "directory", view{Title: "Directory", Nav: "directory", Session: ss, Notice: q.Get("notice"), Data: d})
}

func (s *Server) newEntryPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.render(w, r, http.StatusOK, "entry", view{Title: "Add a directory entry", Nav: "directory", Session: ss,
		Data: entryPageData{Form: &entryForm{New: true, Kind: string(gateway.KindOrganization), Errors: map[string]string{}}}})
}

func (s *Server) entryPage(w http.ResponseWriter, r *http.Request, ss *session) {
	e, err := s.svc.Entry(r.Context(), r.PathValue("id"))
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	f := formFromEntry(e)
	s.render(w, r, http.StatusOK, "entry", view{Title: "Directory entry " + e.ID, Nav: "directory", Session: ss,
		Notice: r.URL.Query().Get("notice"), Data: entryPageData{Form: f, Entry: e}})
}

// entryPageData is the edit page: the form and the stored entry (for its
// verification status).
type entryPageData struct {
	Form  *entryForm
	Entry *gateway.Entry
}

func (s *Server) saveEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	f := parseEntryForm(r.PostForm)
	id := r.PathValue("id")
	f.New = id == ""
	var stored *gateway.Entry
	if !f.New {
		var err error
		if stored, err = s.svc.Entry(r.Context(), id); err != nil {
			s.consoleError(w, r, ss, err)
			return
		}
		f.ID = id
	} else if f.ID != "" {
		if _, err := s.svc.Entry(r.Context(), f.ID); err == nil {
			f.Errors["id"] = "an entry with this id exists already"
		}
		f.Version = 0
	}
	var saved *gateway.Entry
	if len(f.Errors) == 0 {
		var err error
		saved, err = s.svc.PutEntry(r.Context(), ss.actor(), f.entry())
		switch {
		case err == nil:
		case errors.Is(err, gateway.ErrConflict):
			f.Errors["version"] = "someone changed this entry since you opened it; reload it and apply your change again"
		default:
			fps := fieldProblems(err)
			if len(fps) == 0 {
				s.consoleError(w, r, ss, err)
				return
			}
			for _, fp := range fps {
				f.Errors[fp.Field] = fp.Reason
			}
		}
	}
	if len(f.Errors) > 0 {
		title := "Add a directory entry"
		data := entryPageData{Form: f}
		if !f.New {
			title, data.Entry = "Directory entry "+id, stored
		}
		s.render(w, r, http.StatusUnprocessableEntity, "entry", view{Title: title, Nav: "directory", Session: ss,
			Error: "The entry was not saved: correct the fields marked below.", Data: data})
		return
	}
	http.Redirect(w, r, "/admin/directory/"+url.PathEscape(saved.ID)+"?notice="+url.QueryEscape("Saved (version "+fmt.Sprint(saved.Version)+")."), http.StatusSeeOther)
}

func (s *Server) verifySubmit(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PathValue("id")
	_, err := s.svc.VerifyEntry(r.Context(), ss.actor(), id, strings.TrimSpace(r.PostFormValue("method")))
	if fps := fieldProblems(err); len(fps) > 0 {
		http.Redirect(w, r, "/admin/directory/"+url.PathEscape(id)+"?notice="+url.QueryEscape("Not verified: "+fps[0].Field+" "+fps[0].Reason+"."), http.StatusSeeOther)
		return
	} else if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	http.Redirect(w, r, "/admin/directory/"+url.PathEscape(id)+"?notice="+url.QueryEscape("Contact details marked verified."), http.StatusSeeOther)
}

// baasData is the BAA board.
type baasData struct {
	Rows   []BAARow
	Failed string            // party whose transition was refused
	Errors map[string]string // field → reason for that party
}

func (s *Server) baasPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.showBAAs(w, r, ss, http.StatusOK, r.URL.Query().Get("notice"), "", baasData{})
}

func (s *Server) showBAAs(w http.ResponseWriter, r *http.Request, ss *session, status int, notice, errMsg string, d baasData) {
	rows, err := s.baaBoard(r.Context(), true)
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	d.Rows = rows
	s.render(w, r, status, "baas", view{Title: "Business Associate Agreements", Nav: "baas", Session: ss, Notice: notice, Error: errMsg, Data: d})
}

func (s *Server) baaSubmit(w http.ResponseWriter, r *http.Request, ss *session) {
	party := r.PathValue("partyId")
	f := parseBAAForm(party, r.PostForm)
	if len(f.Errors) == 0 {
		_, err := s.svc.SetBAA(r.Context(), ss.actor(), f.Change)
		var te *gateway.TransitionError
		switch {
		case err == nil:
			http.Redirect(w, r, "/admin/baas?notice="+url.QueryEscape("BAA with "+party+" is now "+string(f.Change.State)+"."), http.StatusSeeOther)
			return
		case errors.As(err, &te):
			f.Errors["state"] = te.Rule
		default:
			fps := fieldProblems(err)
			if len(fps) == 0 {
				s.consoleError(w, r, ss, err)
				return
			}
			for _, fp := range fps {
				f.Errors[fp.Field] = fp.Reason
			}
		}
	}
	var parts []string
	for k, v := range f.Errors {
		parts = append(parts, k+": "+v)
	}
	s.showBAAs(w, r, ss, http.StatusUnprocessableEntity, "", "The BAA with "+party+" was not changed ("+strings.Join(parts, "; ")+").",
		baasData{Failed: party, Errors: f.Errors})
}

// referralsData is the tracker page.
type referralsData struct {
	Status, Receiver, Channel, Age, Patient string
	Rows                                    []ReferralRow
	Next                                    string
	Errors                                  map[string]string
}

func (s *Server) referralsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	d := referralsData{Status: q.Get("status"), Receiver: q.Get("receiver"), Channel: q.Get("channel"), Age: q.Get("age"),
		Patient: q.Get("patient"), Errors: map[string]string{}}
	f, errs := parseReferralFilter(q.Get)
	for _, e := range errs {
		d.Errors[e.Field] = e.Reason
	}
	status := http.StatusOK
	if len(errs) == 0 {
		var err error
		var ve *gateway.ValidationError
		if d.Rows, d.Next, err = s.referrals(r.Context(), f); errors.As(err, &ve) {
			d.Errors[ve.Field] = ve.Reason
			status = http.StatusUnprocessableEntity
		} else if err != nil {
			s.consoleError(w, r, ss, err)
			return
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, "referrals", view{Title: "Referrals", Nav: "referrals", Session: ss, Data: d})
}

func (s *Server) timelinePage(w http.ResponseWriter, r *http.Request, ss *session) {
	t, err := s.timeline(r.Context(), r.PathValue("id"))
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "timeline", view{Title: "Referral " + t.Referral.ID, Nav: "referrals", Session: ss, Data: t})
}

// auditData is the audit trail page.
type auditData struct {
	Tenant  string
	Report  VerifyReport
	Entries []AuditEntryView
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, ss *session) {
	d := auditData{Tenant: r.URL.Query().Get("tenant")}
	if ss.Practice != "" {
		d.Tenant = ss.Practice
	} else if d.Tenant == "" {
		d.Tenant = auditTenant // a gateway-wide account's own trail
	} else if d.Tenant != auditTenant && d.Tenant != "directory" {
		s.refusal(r, ss, "admin.refused", "practice trail "+d.Tenant)
		s.renderError(w, r, ss, http.StatusForbidden, "a practice's audit trail is read by that practice's accounts")
		return
	}
	var err error
	if d.Report, err = s.verifyAudit(r.Context()); err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	if d.Entries, err = s.recentAudit(r.Context(), d.Tenant, 200); err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "audit", view{Title: "Audit trail", Nav: "audit", Session: ss, Data: d})
}

func (s *Server) healthPage(w http.ResponseWriter, r *http.Request, ss *session) {
	h, err := s.health(r.Context())
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	st, err := s.svc.DirectoryRound(r.Context())
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	may, _ := accessDirectory.allowedFor(ss)
	s.render(w, r, http.StatusOK, "health", view{Title: "Directory health", Nav: "health", Session: ss,
		Notice: r.URL.Query().Get("notice"), Data: healthData{Health: h, Checks: st, CanRequest: may}})
}
