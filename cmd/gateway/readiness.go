package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// readyFor is how long one answer of the database counts for GET /readyz:
// the endpoint is unauthenticated, and a client asking in a tight loop
// must not turn into as many database round trips. A probe every few
// seconds still sees an outage within readyFor.
const readyFor = time.Second

// readyTimeout bounds one check of the database.
const readyTimeout = 2 * time.Second

// readiness answers whether the database is reachable, asking it at most
// once per readyFor: requests meanwhile reuse the last answer, and
// requests that arrive while a check runs wait for that one instead of
// starting their own.
type readiness struct {
	ping func(context.Context) error
	now  func() time.Time

	flight singleflight.Group
	mu     sync.Mutex
	at     time.Time // when the cached answer was taken; zero: none yet
	err    error
}

func newReadiness(ping func(context.Context) error, now func() time.Time) *readiness {
	return &readiness{ping: ping, now: now}
}

// cached returns the last answer if it is younger than readyFor.
func (rd *readiness) cached() (ok bool, err error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && rd.now().Sub(rd.at) < readyFor {
		return true, rd.err
	}
	return false, nil
}

// check returns the database's answer, cached or fresh.
func (rd *readiness) check(ctx context.Context) error {
	if ok, err := rd.cached(); ok {
		return err
	}
	ch := rd.flight.DoChan("ping", func() (any, error) {
		// A request that found no answer above may reach the flight only
		// after an earlier check has finished and left it: that answer
		// is fresh, so it is the answer here too.
		if ok, err := rd.cached(); ok {
			return nil, err
		}
		// The shared check does not end with the request that started it
		// (the client may hang up; the others still wait for the answer).
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
		defer cancel()
		err := rd.ping(pctx)
		rd.mu.Lock()
		rd.at, rd.err = rd.now(), err
		rd.mu.Unlock()
		return nil, err
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP implements http.Handler for GET /readyz.
func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := rd.check(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "database unavailable\n")
		return
	}
	io.WriteString(w, "ready\n")
}
