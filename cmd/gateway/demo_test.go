package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
)

// testPGURL is the PostgreSQL the tests use (GATEWAY_TEST_PG overrides).
func testPGURL() string { return pgtest.URL() }

// requirePG skips without PostgreSQL, except under CI=true where it fails.
func requirePG(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, testPGURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable under CI=true: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set GATEWAY_TEST_PG", err)
	}
	_ = c.Close(ctx)
	return testPGURL()
}

// TestDemo runs the whole demo end to end on each store and checks every
// row of its summary, both audit verifications and the exit status.
func TestDemo(t *testing.T) {
	stores := []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"embedded", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return requirePG(t) }},
	}
	rows := []struct {
		row, receiver, channel, actual string
	}{
		{"#1", "ortho-ehr", "fhir", "completed, outcome DocumentReference/consult-note-1"},
		{"#2", "bh-direct", "direct", "accepted; MDNs processed,dispatched"},
		{"#3", "fax-clinic", "fax", "receipt fax-success (EMULATOR)"},
		{"#4", "lapsed-cardio", "-", "draft, 0 deliveries: BAA expired"},
		{"#5", "ortho-ehr", "fhir", "then received"},
		{"#6", "bh-direct", "direct", "received on fhir"},
		{"#7", "bh-direct", "direct", "on hold by reply; answer"},
		{"#8", "ortho-ehr", "fhir+fax", "received by fax"},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			db := st.db(t)
			var out bytes.Buffer
			var logs lockedBuffer
			err := runDemo(t.Context(), demoOptions{KeepDir: t.TempDir(), DB: db, Timeout: 45 * time.Second, Log: &logs}, &out)
			text := out.String()
			if err != nil {
				t.Fatalf("demo failed: %v\n%s", err, text)
			}
			summary := text[strings.Index(text, "\nSummary"):]
			for _, r := range rows {
				line := lineStarting(summary, r.row+" ")
				if line == "" {
					t.Errorf("summary has no row %s", r.row)
					continue
				}
				f := strings.Fields(line)
				if !strings.HasSuffix(line, " OK") || !strings.Contains(line, " "+r.receiver+" ") ||
					!strings.Contains(line, r.actual) || !contains(f, r.channel) {
					t.Errorf("row %s: %q; want receiver %s, channel %s, actual %q, OK", r.row, line, r.receiver, r.channel, r.actual)
				}
			}
			for _, want := range []string{"node A: audit trail intact", "node B: audit trail intact", "Every expected outcome happened.",
				"EMULATOR", "referral.closed", "direct.reply", "fax.callback", "referral.send-refused [REFUSED]",
				"referral.info-requested", "referral.followed-up", "Compliance receipts"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			// B's replies are tracked, so A's MDNs for them match on B.
			if !strings.Contains(text, "direct.reply-receipt") || strings.Contains(text, "direct.report-unmatched") {
				t.Error("an MDN for one of B's replies did not match it")
			}
			// Every case's referrals have a receipt whose citations verify.
			receipts := text[strings.Index(text, "\nCompliance receipts"):strings.Index(text, "\naudit verify")]
			if strings.Count(receipts, "citations verified") != 10 || strings.Contains(receipts, "does not verify") {
				t.Errorf("receipts:\n%s", receipts)
			}
			// Synthetic as the data is, no patient name reaches the output or the logs.
			if strings.Contains(text, "Testpatient") || strings.Contains(logs.String(), "Testpatient") {
				t.Error("a patient name reached the timeline or the logs")
			}
		})
	}
}

// TestDemoNamesTheStepThatDidNotHappen gives the demo no time at all: it
// must exit non-zero and name the first step that did not happen.
func TestDemoNamesTheStepThatDidNotHappen(t *testing.T) {
	var out bytes.Buffer
	err := runDemo(t.Context(), demoOptions{KeepDir: t.TempDir(), Timeout: time.Nanosecond, Log: &bytes.Buffer{}}, &out)
	if err == nil || !errors.Is(err, errSilent) || !strings.Contains(err.Error(), "#1 on-platform") {
		t.Fatalf("err = %v, want a failure naming case #1", err)
	}
	if !strings.Contains(out.String(), "DEMO FAILED") || !strings.Contains(out.String(), " FAIL") {
		t.Fatalf("output does not report the failure:\n%s", out.String())
	}
}

func lineStarting(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
