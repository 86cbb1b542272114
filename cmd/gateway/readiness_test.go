package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadyzAsksTheDatabaseOncePerInterval hammers GET /readyz over a real
// listener: requests arriving while a check runs share it, requests within
// readyFor of the last answer reuse it, and only a request after that asks
// the database again, whose failure is then served as 503.
func TestReadyzAsksTheDatabaseOncePerInterval(t *testing.T) {
	var (
		mu      sync.Mutex
		now     = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		pings   atomic.Int64
		down    atomic.Bool
		release = make(chan struct{})
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	ping := func(ctx context.Context) error {
		pings.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		if down.Load() {
			return errors.New("connection refused (simulated)")
		}
		return nil
	}
	rd := newReadiness(ping, clock)
	var entered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		rd.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Twenty requests at once, while the first check is held.
	const n = 20
	codes := make(chan int, n)
	for range n {
		go func() { code, _ := get(); codes <- code }()
	}
	deadline := time.Now().Add(15 * time.Second)
	for entered.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests reached the handler", entered.Load(), n)
		}
		time.Sleep(time.Millisecond) // polling interval, not a wait for work
	}
	close(release)
	for range n {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("concurrent readyz: %d, want 200", code)
		}
	}
	if got := pings.Load(); got != 1 {
		t.Fatalf("%d concurrent requests pinged the database %d times, want once", n, got)
	}

	// Within the interval: the answer is reused.
	for range 50 {
		if code, _ := get(); code != http.StatusOK {
			t.Fatalf("readyz within the interval: %d", code)
		}
	}
	if got := pings.Load(); got != 1 {
		t.Fatalf("the database was pinged %d times within %s of the last answer, want once", got, readyFor)
	}

	// After the interval, a request asks again, and a failure is served.
	down.Store(true)
	advance(readyFor)
	if code, body := get(); code != http.StatusServiceUnavailable || body != "database unavailable\n" {
		t.Errorf("readyz with the database down: %d %q", code, body)
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Errorf("readyz within the interval of a failure: %d, want the failure reused", code)
	}
	if got := pings.Load(); got != 2 {
		t.Errorf("pinged %d times after the interval passed once, want 2", got)
	}
	down.Store(false)
	advance(readyFor)
	if code, body := get(); code != http.StatusOK || body != "ready\n" {
		t.Errorf("readyz with the database back: %d %q", code, body)
	}
}

// TestReadyzCheckOutlivesTheCallerThatStartedIt: the client whose request
// started the shared check hangs up; the check goes on for the others.
func TestReadyzCheckOutlivesTheCallerThatStartedIt(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	rd := newReadiness(func(ctx context.Context) error {
		once.Do(func() { close(started) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, time.Now)
	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { firstErr <- rd.check(first) }()
	<-started
	secondErr := make(chan error, 1)
	go func() { secondErr <- rd.check(context.Background()) }()
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that hung up got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-secondErr; err != nil {
		t.Errorf("the check failed for the caller still waiting: %v", err)
	}
}
