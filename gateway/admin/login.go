package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// loginFailure says why a login was refused; the reason is audited but the
// client only learns that the credentials were wrong, or when to try again.
type loginFailure struct {
	reason     string        // "unknown-account", "password", "totp", "totp-reused", "throttled"
	retryAfter time.Duration // set when throttled
}

func (f *loginFailure) Error() string {
	if f.retryAfter > 0 {
		return "admin: login: too many failed attempts, try again later"
	}
	return "admin: login: invalid credentials"
}

// retryAfterSeconds is the Retry-After value for a throttled attempt.
func (f *loginFailure) retryAfterSeconds() string {
	return strconv.Itoa(int((f.retryAfter + time.Second - 1) / time.Second))
}

// dummyHash keeps the time of a login for an unknown account close to that
// of a wrong password.
var dummyHash = passwordHash{Salt: make([]byte, 16), Key: make([]byte, argonKeyLen), Time: argonTime, Memory: argonMemory, Threads: argonThreads}

// maxConcurrentHashes bounds the argon2id computations of logins running at
// once (each takes argonMemory of memory).
const maxConcurrentHashes = 4

// loginGate holds what serialises and bounds sign-in attempts in this process.
type loginGate struct {
	throttle *loginThrottle
	hashes   chan struct{}
	mu       sync.Mutex
	accounts map[string]*accountTurn
}

// accountTurn lets one attempt on an account run at a time, so that
// concurrent attempts each get a definite answer instead of a version
// conflict.
type accountTurn struct {
	sync.Mutex
	waiting int
}

func newLoginGate() *loginGate {
	return &loginGate{throttle: newLoginThrottle(), hashes: make(chan struct{}, maxConcurrentHashes),
		accounts: map[string]*accountTurn{}}
}

// take waits for the account's turn and returns the function that ends it.
func (g *loginGate) take(name string) func() {
	g.mu.Lock()
	t := g.accounts[name]
	if t == nil {
		t = &accountTurn{}
		g.accounts[name] = t
	}
	t.waiting++
	g.mu.Unlock()
	t.Lock()
	return func() {
		t.Unlock()
		g.mu.Lock()
		if t.waiting--; t.waiting == 0 {
			delete(g.accounts, name)
		}
		g.mu.Unlock()
	}
}

// clientAddr is the IP address of the request's peer.
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// signIn runs one sign-in attempt from start to end: the throttle first
// (before any password work or write), then the check, then the record of
// the outcome in the throttle and the audit trail. It returns the account
// on success, a *loginFailure on refusal, or another error.
func (s *Server) signIn(r *http.Request, name, password, code string) (*account, error) {
	ctx := r.Context()
	addr := clientAddr(r)
	if wait, limit := s.gate.throttle.admit(name, addr, s.clock.Now()); wait > 0 {
		// Aggregated per address and limit, so a flood writes a bounded
		// number of entries.
		err := s.svc.RecordEdge(ctx, gateway.EdgeEvent{Action: "auth.login-throttled", Source: addr, Reason: limit, Text: name})
		if err != nil {
			return nil, fmt.Errorf("admin: audit auth.login-throttled: %w", err)
		}
		return nil, &loginFailure{reason: "throttled", retryAfter: wait}
	}
	done := s.gate.take(name)
	defer done()
	select {
	case s.gate.hashes <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("admin: login: %w", ctx.Err())
	}
	a, failure, err := s.authenticate(ctx, name, password, code)
	<-s.gate.hashes
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if failure != nil {
		s.gate.throttle.failed(name, addr, now)
		if failure.reason == "unknown-account" {
			// Anyone can type a name: it goes, cut and escaped, to the
			// gateway's aggregated edge record, never verbatim into a chain.
			err := s.svc.RecordEdge(ctx, gateway.EdgeEvent{Action: "auth.login-failed", Source: addr, Reason: failure.reason, Text: name})
			if err != nil {
				return nil, fmt.Errorf("admin: audit auth.login-failed: %w", err)
			}
			return nil, failure
		}
		detail := map[string]string{"account": name, "reason": failure.reason, "address": addr}
		if err := s.audit(ctx, "user:"+name, "auth.login-failed", audit.OutcomeFailure, detail); err != nil {
			return nil, err
		}
		return nil, failure
	}
	s.gate.throttle.succeeded(name, addr, now)
	detail := map[string]string{"account": name, "role": string(a.Role), "address": addr}
	if a.Practice != "" {
		ctx = gateway.WithPractice(ctx, a.Practice) // into the practice's trail
	}
	if err := s.audit(ctx, "user:"+name, "auth.login", audit.OutcomeSuccess, detail); err != nil {
		return nil, err
	}
	return a, nil
}

// authenticate checks a name, password and TOTP code and, on success,
// records the code's step on the account so it cannot be used again. A
// failure writes nothing to the account. A version conflict with another
// process is retried.
func (s *Server) authenticate(ctx context.Context, name, password, code string) (*account, *loginFailure, error) {
	for attempt := 1; ; attempt++ {
		a, failure, err := s.checkCredentials(ctx, name, password, code)
		if errors.Is(err, gateway.ErrConflict) && attempt < 4 {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("admin: login %s: %w", name, err)
		}
		return a, failure, nil
	}
}

func (s *Server) checkCredentials(ctx context.Context, name, password, code string) (*account, *loginFailure, error) {
	now := s.clock.Now()
	// The password hash is checked outside any transaction; the write
	// back is optimistic on the account's version (authenticate retries).
	a, err := loadAccount(ctx, s.svc, name)
	if errors.Is(err, gateway.ErrNotFound) {
		dummyHash.matches(password)
		return nil, &loginFailure{reason: "unknown-account"}, nil
	} else if err != nil {
		return nil, nil, err
	}
	passOK := a.Password.matches(password)
	step, codeOK := matchTOTP(a.TOTPSecret, code, now)
	switch {
	case !passOK:
		return nil, &loginFailure{reason: "password"}, nil
	case !codeOK:
		return nil, &loginFailure{reason: "totp"}, nil
	case step <= a.LastStep:
		return nil, &loginFailure{reason: "totp-reused"}, nil
	}
	a.LastStep = step
	if err := saveAccount(ctx, s.svc, a); err != nil {
		return nil, nil, err
	}
	return a, nil, nil
}
