package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/referralgw/gateway/gateway"
)

const (
	cookieName = "gw_admin_session"
	csrfField  = "csrf"         // form field of the console's CSRF token
	csrfHeader = "X-CSRF-Token" // header of the API's CSRF token
)

// session is the state of one login. The core keeps it (a
// gateway.ConsoleSession) under the SHA-256 of its cookie value, so a copy
// of the database does not yield live cookies.
type session struct {
	Account  string
	Role     Role
	Practice string // "" for a gateway-wide account
	CSRF     string
	Created  time.Time
	LastSeen time.Time
	id       string // the stored id (hash of the cookie value)
	version  int
}

// stored is the session as the core keeps it, expiring at expires.
func (ss *session) stored(expires time.Time) gateway.ConsoleSession {
	return gateway.ConsoleSession{ID: ss.id, Account: ss.Account, Role: string(ss.Role), Practice: ss.Practice, CSRF: ss.CSRF,
		Created: ss.Created, LastSeen: ss.LastSeen, Expires: expires, Version: ss.version}
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
	if err := s.svc.StartConsoleSession(ctx, ss.stored(s.expires(ss, now))); err != nil {
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
		st, err := s.svc.ConsoleSession(ctx, id)
		if errors.Is(err, gateway.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		got := session{Account: st.Account, Role: Role(st.Role), Practice: st.Practice, CSRF: st.CSRF,
			Created: st.Created, LastSeen: st.LastSeen, id: id, version: st.Version}
		if now.Sub(got.LastSeen) > s.cfg.SessionIdle || now.Sub(got.Created) >= s.cfg.SessionMax {
			return s.svc.EndConsoleSession(ctx, id)
		}
		ss = &got
		if now.Sub(got.LastSeen) < time.Second {
			return nil // fresh enough; spare a write
		}
		got.LastSeen = now
		if err := s.svc.TouchConsoleSession(ctx, got.stored(s.expires(&got, now))); err != nil {
			return err
		}
		got.version++
		return nil
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
	if err := s.svc.EndConsoleSession(ctx, ss.id); err != nil {
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
