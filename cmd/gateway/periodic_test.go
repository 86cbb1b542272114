package main

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/referralgw/gateway/fhir/push"
	"github.com/referralgw/gateway/gateway"
)

// TestNodeSchedulesPeriodicWorkOnce: a node puts its periodic work on the
// queue, each kind once, at the configured intervals (the follow loop and
// the sweep are no longer timers of the process).
func TestNodeSchedulesPeriodicWorkOnce(t *testing.T) {
	cfg := defaultConfig()
	cfg.DB, cfg.DataDir = "", t.TempDir()
	cfg.Edges.FollowEvery, cfg.Edges.VerifyEvery = 7*time.Second, 3*time.Hour
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := openNode(t.Context(), cfg, nodeOptions{}, nodeListeners{HTTP: ln}, io.Discard, io.Discard)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	defer func() { n.Close(); ln.Close() }()
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
