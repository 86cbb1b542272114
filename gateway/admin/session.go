package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/referralgw/gateway/gateway"
)

const (
	cookieName = "gw_admin_session"
	docSession = "admin.session"
	csrfField  = "csrf"         // form field of the console's CSRF token
	csrfHeader = "X-CSRF-Token" // header of the API's CSRF token
)

// session is the stored state of one login. It is stored under the SHA-256
// of its cookie value, so a copy of the database does not yield live cookies.
type session struct {
	Account  string    `json:"account"`
	Role     Role      `json:"role"`
	Practice string    `json:"practice,omitempty"` // "" for a gateway-wide account
	CSRF     string    `json:"csrf"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"lastSeen"`
	id       string    // document id (hash of the cookie value)
	version  int
}

// actor is the session's user as the core names actors, acting for the
// account's practice (none for a gateway-wide account).
func (ss *session) actor() gateway.Actor {
	return gateway.Actor{ID: "user:" + ss.Account, OrgID: ss.Practice}
}

// pathConsole is the named gateway-wide path of a gateway-wide account's
// requests: the directory, vendors, BAAs, accounts, FHIR clients, the
// gateway's own trail, chain verification and directory health.
const pathConsole = "console"

// scope returns ctx acting for the session's practice, or on the
// gateway-wide console path for a gateway-wide account.
func (ss *session) scope(ctx context.Context) context.Context {
	if ss.Practice != "" {
		return gateway.WithPractice(ctx, ss.Practice)
	}
	return gateway.GatewayWide(ctx, pathConsole)
}

func randomToken() (string, error) {
	b := make([]byte, 32) // 256 bits
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("admin: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func sessionDocID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// secure reports whether cookies for r get the Secure flag: always over
// TLS, and when configured for a TLS-terminating proxy.
func (s *Server) secure(r *http.Request) bool { return s.cfg.Secure || r.TLS != nil }

// expires is when a session's stored record may be swept: at the end of
// its idle window, never past its absolute lifetime.
func (s *Server) expires(ss *session, now time.Time) time.Time {
	idle, end := now.Add(s.cfg.SessionIdle), ss.Created.Add(s.cfg.SessionMax)
	if idle.After(end) {
		return end
	}
	return idle
}

// startSession stores a new session for a and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, a *account) (*session, error) {
	ctx := r.Context()
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	ss := &session{Account: a.Name, Role: a.Role, Practice: a.Practice, CSRF: csrf, Created: now, LastSeen: now, id: sessionDocID(token), version: 1}
	body, err := json.Marshal(ss)
	if err != nil {
		return nil, fmt.Errorf("admin: start session: %w", err)
	}
	err = s.svc.PutDocument(ctx, gateway.Document{Kind: docSession, ID: ss.id, Version: 1, Updated: now,
		Expires: s.expires(ss, now), Body: body})
	if err != nil {
		return nil, fmt.Errorf("admin: start session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/admin/", HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	return ss, nil
}

// errNoSession reports a missing, unknown, idle or expired session.
var errNoSession = errors.New("admin: no valid session")

// currentSession loads the request's session and refreshes its idle timer.
// A session idle for longer than SessionIdle, or older than SessionMax, is
// deleted and refused.
func (s *Server) currentSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	ctx := r.Context()
	id := sessionDocID(c.Value)
	now := s.clock.Now()
	var ss *session
	err = func() error {
		d, err := s.svc.Document(ctx, docSession, id)
		if errors.Is(err, gateway.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		var got session
		if err := json.Unmarshal(d.Body, &got); err != nil {
			return fmt.Errorf("admin: session: %w", err)
		}
		if now.Sub(got.LastSeen) > s.cfg.SessionIdle || now.Sub(got.Created) >= s.cfg.SessionMax {
			if err := s.svc.DeleteDocument(ctx, docSession, id); err != nil && !errors.Is(err, gateway.ErrNotFound) {
				return err
			}
			return nil
		}
		got.id, got.version = id, d.Version
		ss = &got
		if now.Sub(got.LastSeen) < time.Second {
			return nil // fresh enough; spare a write
		}
		got.LastSeen = now
		body, err := json.Marshal(got)
		if err != nil {
			return err
		}
		got.version = d.Version + 1
		return s.svc.PutDocument(ctx, gateway.Document{Kind: docSession, ID: id, Version: got.version, Updated: now,
			Expires: s.expires(&got, now), Body: body})
	}()
	if errors.Is(err, gateway.ErrConflict) && ss != nil {
		err = nil // a concurrent request refreshed it
	}
	if err != nil {
		return nil, fmt.Errorf("admin: session: %w", err)
	}
	if ss == nil {
		return nil, errNoSession
	}
	return ss, nil
}

// endSession deletes the request's session and clears its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, ss *session) error {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/admin/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	ctx := r.Context()
	err := s.svc.DeleteDocument(ctx, docSession, ss.id)
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return fmt.Errorf("admin: end session: %w", err)
	}
	return nil
}

// csrfOK reports whether the request carries the session's CSRF token, in
// the form field (console) or the header (API).
func (ss *session) csrfOK(r *http.Request) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.CSRF)) == 1
}
