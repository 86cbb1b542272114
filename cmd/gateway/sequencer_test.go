package main

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/referralgw/gateway/audit/witness"
)

// downWitness is a tlog-witness that cannot take checkpoints: it answers
// every one 503 and counts, per tenant, how often it was asked. It lists
// the checkpoints it holds (none) for verification.
type downWitness struct {
	mu    sync.Mutex
	asked map[string]int
}

func (d *downWitness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/checkpoints" {
		return // 200, no records
	}
	body, _ := io.ReadAll(r.Body)
	if req, err := witness.ParseAddCheckpoint(body); err == nil {
		origin, _, _ := strings.Cut(string(req.Checkpoint), "\n") // "<log>/audit/<tenant>"
		_, tenant, _ := strings.Cut(origin, "/audit/")
		d.mu.Lock()
		d.asked[tenant]++
		d.mu.Unlock()
	}
	http.Error(w, "witness down", http.StatusServiceUnavailable)
}

func (d *downWitness) counts() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for k, v := range d.asked {
		out[k] = v
	}
	return out
}

// TestOneShotCommandsLeaveSequencingToServe: one-shot commands append to
// the audit trail but run no sequencer: they never take its lock (the
// embedded store's lock file is never even made), ask no witness, and
// leave their entries unsequenced. A serve started afterwards sequences
// them and, at shutdown, publishes once: one checkpoint per tenant, and
// a witness that is down is asked once per tenant, not once per round.
func TestOneShotCommandsLeaveSequencingToServe(t *testing.T) {
	w := &downWitness{asked: map[string]int{}}
	wsrv := httptest.NewServer(w)
	t.Cleanup(wsrv.Close)
	t.Setenv("GATEWAY_AUDIT_WITNESS", wsrv.URL)
	dir := t.TempDir()

	if _, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	for _, args := range [][]string{{"referral", "list"}, {"keys", "status"}} {
		if _, errs, code := gw(t, dir, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, errs)
		}
	}
	out, errs, code := gw(t, dir, "audit", "verify")
	m := regexp.MustCompile(`(\d+) event\(s\) not yet sequenced`).FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] == "0" {
		t.Fatalf("verify after one-shot commands: %d %q %q; want the import's events unsequenced", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "gateway.db.sequencer")); !os.IsNotExist(err) {
		t.Errorf("a one-shot command went for the sequencer lock (lock file: %v)", err)
	}
	if n := w.counts(); len(n) != 0 {
		t.Errorf("one-shot commands handed checkpoints to the witness: %v", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	serveOut, serveErr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--http", "127.0.0.1:0", "--shutdown-grace", "2s", "--audit-publish-every", "1h"}, serveOut, serveErr)
	}()
	pollUntil(t, "serve to listen", func() bool { return strings.Contains(serveOut.String(), "listening on") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, serveErr.String())
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var unsequenced int
	if err := db.QueryRow(`SELECT count(*) FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.event_id = e.id)`).Scan(&unsequenced); err != nil {
		t.Fatal(err)
	}
	if unsequenced != 0 {
		t.Errorf("%d events unsequenced after serve stopped", unsequenced)
	}
	rows, err := db.Query(`SELECT tenant, count(*) FROM audit_signed_heads GROUP BY tenant`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	asked := w.counts()
	tenants := 0
	for rows.Next() {
		var tenant string
		var n int
		if err := rows.Scan(&tenant, &n); err != nil {
			t.Fatal(err)
		}
		tenants++
		if n != 1 {
			t.Errorf("%s: %d checkpoints signed, want 1", tenant, n)
		}
		if asked[tenant] != 1 {
			t.Errorf("%s: the witness was asked %d times at shutdown, want once", tenant, asked[tenant])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if tenants == 0 || len(asked) != tenants {
		t.Errorf("%d tenants with a checkpoint; the witness was asked about %v", tenants, asked)
	}
}
