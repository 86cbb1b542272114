package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// TestDirectoryCheckCommand drives `directory check` through the CLI's
// command path, before and while a real `gateway serve` runs on the same
// embedded store: an import asks for a check round; without a serve the
// request is kept and the command says the round runs when one starts;
// once serve runs the round checks the imported entry. Then the
// receiver's FHIR server stops answering as one (a rotated endpoint an
// admin wants checked now): `directory check --wait` asks for a round,
// prints its progress, and ends with exit 1 naming the entry whose check
// failed, long before the periodic interval (24 h).
func TestDirectoryCheckCommand(t *testing.T) {
	var broken atomic.Bool
	ehr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() || r.URL.Path != "/fhir/metadata" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write([]byte(`{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1"}`))
	}))
	defer ehr.Close()
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "dir.json")
	os.WriteFile(file, []byte(`{"entries":[
		{"id":"clinic-a","kind":"organization","name":"Synthetic Family Clinic"},
		{"id":"cardio-x","kind":"organization","name":"Synthetic Cardiology","onPlatform":true,"fhir":{"baseUrl":"`+ehr.URL+`/fhir"}}]}`), 0o600)

	out, errs, code := gw(t, dir, "directory", "import", file)
	if code != 0 || !strings.Contains(out, "2 added") || !strings.Contains(out, "directory check requested for the imported entries (round 1 or later") {
		t.Fatalf("import: %d %q %q, want the import to ask for a check round", code, out, errs)
	}
	out, _, code = gw(t, dir, "directory", "check")
	if code != 0 || !strings.Contains(out, "round 1 or later") || !strings.Contains(out, "no gateway serve is working the queue") ||
		!strings.Contains(out, "the round runs when one starts") {
		t.Fatalf("check without a serve: %d %q", code, out)
	}
	out, _, code = gw(t, dir, "directory", "check", "--status")
	if code != 0 || !strings.Contains(out, "no directory check round has started yet") || !strings.Contains(out, "1 round(s) queued to start") {
		t.Fatalf("status before serve: %d %q, want the kept request", code, out)
	}
	for _, bad := range [][]string{{"check", "cardio-x"}, {"check", "--status", "--wait"}, {"check", "--json"}, {"check", "--wait", "--interval", "0s"}} {
		if _, errs, code := gw(t, dir, append([]string{"directory"}, bad...)...); code != exitUsage || errs == "" {
			t.Errorf("directory %v: status %d %q, want a usage error", bad, code, errs)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var serveOut, serveErr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--http", "127.0.0.1:0", "--fhir-allow-http", "--shutdown-grace", "5s"}, &serveOut, &serveErr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	status := func() gateway.DirectoryRound {
		t.Helper()
		out, errs, code := gw(t, dir, "directory", "check", "--status", "--json")
		var st gateway.DirectoryRound
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status --json: %d %q %q", code, out, errs)
		}
		return st
	}
	var st gateway.DirectoryRound
	deadline := time.Now().Add(60 * time.Second)
	for st = status(); !(st.Finished && st.RoundsWaiting == 0 && st.Pending.Total() == 0 && st.Serving); st = status() {
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, serveErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the requested round never finished: %+v\n%s", st, serveErr.String())
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for work
	}
	if st.Entries != 1 || st.Checked != 1 || st.OK != 1 || st.Failed != 0 {
		t.Fatalf("first round: %+v, want cardio-x checked ok", st)
	}
	before := st.Round

	broken.Store(true)
	out, errs, code = gw(t, dir, "directory", "check", "--wait", "--interval", "20ms", "--actor", "olga")
	if code != exitFailure || !strings.Contains(out, "1 checked: 0 ok, 1 failed") || !strings.Contains(out, "failed: cardio-x") ||
		strings.Contains(out, "no gateway serve") {
		t.Fatalf("check --wait: %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	m := regexp.MustCompile(`round (\d+): 1 of 1 entries checked \(1 failed, 0 unknown\)`).FindStringSubmatch(errs)
	if m == nil || m[1] <= "0" {
		t.Fatalf("check --wait printed no progress of the finished round:\n%s", errs)
	}
	if st = status(); st.Round <= before || !st.Finished || st.Failed != 1 {
		t.Fatalf("after --wait: %+v, want a round after %d that found cardio-x failed", st, before)
	}
	out, _, _ = gw(t, dir, "directory", "show", "cardio-x")
	if !strings.Contains(out, `"status": "failed"`) || !strings.Contains(out, "404") {
		t.Fatalf("cardio-x after the round:\n%s", out)
	}
	trail, _, _ := gw(t, dir, "audit", "export", "--tenant", "directory")
	if !strings.Contains(trail, "directory.check-requested") || !strings.Contains(trail, "user:olga") {
		t.Fatalf("the request is not in the directory's trail:\n%.2000s", trail)
	}
}
