package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway/buildinfo"
)

// TestServeHelperProcess is `gateway serve` in a child process, for tests
// that need a second process; it does nothing in a normal run.
func TestServeHelperProcess(t *testing.T) {
	if os.Getenv("GATEWAY_SERVE_HELPER") != "1" {
		t.Skip("helper process only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	os.Exit(exitCode(run(ctx, []string{"serve"}, os.Stdout, os.Stderr), os.Stderr))
}

// syncBuffer is a bytes.Buffer safe to write from the server goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeHealthMetricsAndShutdown runs `gateway serve` on a real listener:
// health, readiness and metrics answer, and cancelling (SIGTERM) shuts it
// down cleanly.
func TestServeHealthMetricsAndShutdown(t *testing.T) {
	t.Setenv("GATEWAY_DATA_DIR", t.TempDir())
	t.Setenv("GATEWAY_DB", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs syncBuffer
	done := make(chan error, 1)
	// Port 0: serve binds a free port itself and names it (a port found
	// free and closed here could be taken by another process before serve
	// binds it).
	go func() {
		done <- run(ctx, []string{"serve", "--http", "127.0.0.1:0", "--shutdown-grace", "5s"}, &out, &errs)
	}()
	var addr string
	listening := regexp.MustCompile(`gateway listening on http://([0-9.:]+)`)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if addr == "" {
			if m := listening.FindStringSubmatch(out.String()); m != nil {
				addr = m[1]
			}
		}
		if addr != "" {
			if code, _ := get("/healthz"); code == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, errs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became healthy\n%s", errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("/readyz"); code != http.StatusOK || !strings.Contains(body, "ready") {
		t.Fatalf("readyz: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") ||
		!strings.Contains(body, `gateway_http_requests_total{code="200",route="GET /readyz"}`) {
		t.Fatalf("metrics: %d %.400s", code, body)
	}
	// The admin console is served (its login page; the root redirects there).
	if code, body := get("/"); code != http.StatusOK || !strings.Contains(body, "<form") || !strings.Contains(strings.ToLower(body), "password") {
		t.Fatalf("console: %d %.300s", code, body)
	}
	if code, _ := get("/no-such-route"); code != http.StatusNotFound {
		t.Fatalf("unknown route: %d", code)
	}
	if code, body := get("/healthz"); code != http.StatusOK || !strings.Contains(body, buildinfo.Read().String()) {
		t.Fatalf("healthz lacks the build: %d %q", code, body)
	}
	// A second serve on the same embedded store, in another process,
	// refuses to start and names this process as the holder.
	second := exec.Command(os.Args[0], "-test.run=^TestServeHelperProcess$")
	second.Env = append(os.Environ(), "GATEWAY_SERVE_HELPER=1", "GATEWAY_HTTP_ADDR=127.0.0.1:0")
	outb, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 ||
		!strings.Contains(string(outb), fmt.Sprintf("is in use by process %d", os.Getpid())) {
		t.Fatalf("second serve: %v\n%s", err, outb)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if strings.Contains(errs.String(), "ERROR") {
		t.Fatalf("errors logged:\n%s", errs.String())
	}
}

// TestServeStoppedWhileStarting: a node told to stop before its workers
// are up (SIGTERM during start-up, or the kill loop stopping its set-up
// nodes at once) shuts down cleanly instead of failing with the
// cancelled start-up's error.
func TestServeStoppedWhileStarting(t *testing.T) {
	stores := []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"embedded", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string {
			urls, drop, err := freshSchemas(t.Context(), requirePG(t), 1)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(drop)
			return urls[0]
		}},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.DB, cfg.DataDir = s.db(t), t.TempDir()
			n, ln := openTestNode(t, cfg)
			stopped, cancel := context.WithCancel(t.Context())
			cancel()
			if err := serve(stopped, n, ln, time.Second); err != nil {
				t.Fatalf("serve told to stop before it started: %v", err)
			}
		})
	}
}
