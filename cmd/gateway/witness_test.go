package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWitnessServeAndProve runs `gateway witness serve` over a real
// listener, points a gateway at it as its only witness, and checks that
// the gateway's checkpoints reach it and that verify and prove read them.
func TestWitnessServeAndProve(t *testing.T) {
	dir := t.TempDir()
	out, _, code := gw(t, dir, "audit", "key")
	if code != 0 || !strings.HasPrefix(out, auditLogName+"+") {
		t.Fatalf("audit key: %d %q", code, out)
	}
	logKey := strings.TrimSpace(out)

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	wdir := t.TempDir()
	go func() {
		done <- run(ctx, []string{"witness", "serve", "--listen", "127.0.0.1:0", "--data", wdir, "--log-key", logKey}, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() { cancel(); <-done })
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := strings.TrimSpace(strings.Fields(line)[3]) // "witness listening on http://ADDR, ..."
	url := strings.TrimSuffix(addr, ",")

	t.Setenv("GATEWAY_AUDIT_WITNESS", url)
	if _, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	// The import runs no sequencer: its entries wait for one. The
	// checkpoint command sequences them and hands the checkpoints over.
	if _, errs, code := gw(t, dir, "audit", "checkpoint"); code != 0 {
		t.Fatalf("checkpoint: %s", errs)
	}
	out, errs, code := gw(t, dir, "audit", "verify")
	if code != 0 || !strings.Contains(out, "audit trail intact") || strings.Contains(out, " 0 witnessed") {
		t.Fatalf("verify against the witness: %d %q %q", code, out, errs)
	}
	out, errs, code = gw(t, dir, "audit", "prove", "--practice", "cardio-b", "--seq", "2")
	if code != 0 || !strings.Contains(out, "entry cardio-b 2 ") || !strings.Contains(out, auditLogName+"/audit/cardio-b") {
		t.Fatalf("prove: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(wdir, "witness")); err != nil {
		t.Fatalf("the witness kept nothing: %v", err)
	}
	if _, _, code := gw(t, dir, "audit", "prove", "--practice", "cardio-b"); code != 2 {
		t.Errorf("prove without --seq: exit %d, want 2", code)
	}
}
