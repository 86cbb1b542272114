package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/fhir/push"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestNodeSchedulesPeriodicWorkOnce: a node puts its periodic work on the
// queue, each kind once, at the configured intervals (the follow loop and
// the sweep are no longer timers of the process).
func TestNodeSchedulesPeriodicWorkOnce(t *testing.T) {
	cfg := defaultConfig()
	cfg.DB, cfg.DataDir = "", t.TempDir()
	cfg.Edges.FollowEvery, cfg.Edges.VerifyEvery = 7*time.Second, 3*time.Hour
	n, _ := openTestNode(t, cfg)
	want := map[gateway.JobKind]time.Duration{push.JobFollowRound: 7 * time.Second, gateway.JobSweepExpired: sweepEvery,
		gateway.JobVerifyDirectory: 3 * time.Hour}
	got := map[gateway.JobKind]time.Duration{}
	for _, p := range n.app.svc.PeriodicJobs() {
		if _, dup := got[p.Kind]; dup {
			t.Errorf("%s scheduled twice", p.Kind)
		}
		got[p.Kind] = p.Every
	}
	for k, every := range want {
		if got[k] != every {
			t.Errorf("%s every %s, want %s", k, got[k], every)
		}
	}
}

// TestDirectoryImportIgnoresChecks: re-importing the same directory file
// over entries the gateway has checked changes nothing (the checks are
// the gateway's, not the file's), and `directory list` and `show` carry
// the checks.
func TestDirectoryImportIgnoresChecks(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	cfg := defaultConfig()
	cfg.DB, cfg.DataDir = "", dir
	a, err := openApp(t.Context(), cfg, io.Discard, io.Discard,
		storetest.NewRecordingChannel(gateway.ChannelDirect, storetest.Behavior{Check: gateway.CheckFailed, CheckReason: "recipient certificate revoked"}))
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.svc.CheckEntry(t.Context(), "cardio-b")
	a.Close()
	if err != nil || e.Check(gateway.ChannelDirect) == nil {
		t.Fatalf("check cardio-b: %v %+v", err, e)
	}
	out, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json"))
	if code != 0 || !strings.Contains(out, " 0 updated") {
		t.Fatalf("re-import after a check: %d %q %q, want nothing updated", code, out, errs)
	}
	out, _, _ = gw(t, dir, "directory", "list")
	if !strings.Contains(out, "CHECKED") || !strings.Contains(out, "direct:failed") {
		t.Errorf("directory list does not show the check:\n%s", out)
	}
	out, _, _ = gw(t, dir, "directory", "show", "cardio-b")
	if !strings.Contains(out, "recipient certificate revoked") {
		t.Errorf("directory show does not carry the check's reason:\n%s", out)
	}
}

// openTestNode opens a node with cfg on a loopback HTTP listener; both
// are closed when the test ends.
func openTestNode(t *testing.T, cfg Config) (*node, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := openNode(t.Context(), cfg, nodeOptions{}, nodeListeners{HTTP: ln}, io.Discard, io.Discard)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); ln.Close() })
	return n, ln
}
