package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// canaryPHI is one synthetic value per PHI field, each unique, so a copy
// of any of them anywhere at rest names the field that leaked.
var canaryPHI = map[string]string{
	"family name":   "Qzfamilyxcanary",
	"given name":    "Qzgivenxcanary",
	"MRN":           "QZMRN-77310-CANARY",
	"birth date":    "1904-02-29",
	"reason text":   "Qzreasonxcanary palpitations",
	"reason code":   "Qzdisplayxcanary fibrillation",
	"record title":  "Qztitlexcanary summary",
	"record body":   "Qzbodyxcanary: sinus rhythm with AF episodes",
	"consult note":  "Qznotexcanary: rate control started",
	"decline text":  "Qzdeclinexcanary: no capacity",
	"Direct reply":  "Qzreplyxcanary: we will call the patient",
	"part 2 record": "Qzparttwoxcanary counselling notes",
}

// canaryReferral is a referral whose every PHI field carries a canary.
func canaryReferral(receiver, tag string) gateway.NewReferral {
	n := demoReferral(1, receiver)
	n.Identifier = "CANARY-" + tag
	n.Patient = gateway.Patient{ID: canaryPHI["MRN"], System: "urn:demo:mrn", FamilyName: canaryPHI["family name"],
		GivenName: canaryPHI["given name"], BirthDate: canaryPHI["birth date"], Gender: "unknown"}
	n.Reason.Display = canaryPHI["reason code"]
	n.ReasonText = canaryPHI["reason text"]
	n.Records = []gateway.NewRecord{{Title: canaryPHI["record title"], ContentType: "text/plain", Content: []byte(canaryPHI["record body"])}}
	return n
}

// TestCanaryPHINeverAtRest is what shows PHI sealed at rest. It runs the
// demo network (two gateways, the on-platform EHR, the fax emulator) on
// each store, sends canary PHI down all three channels and back (the
// EHR's consult note and decline over FHIR, a Part 2 consent, B's Direct
// reply), then reads what an attacker with the storage would: a pg_dump of
// each node's schema, or every file under the data directories (the
// embedded database, its WAL while open, spools, keys). No canary may
// appear in clear, in hex (how pg_dump writes bytea) or in base64.
func TestCanaryPHINeverAtRest(t *testing.T) {
	for _, st := range []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"embedded", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return requirePG(t) }},
	} {
		t.Run(st.name, func(t *testing.T) {
			db := st.db(t)
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			ln, err := startNet(ctx, netOptions{Dir: dir, DB: db, Log: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.close()
			if err := ln.seed(ctx); err != nil {
				t.Fatal(err)
			}
			ids := sendCanaries(ctx, t, &demoRun{ln: ln, tl: newTimeline(io.Discard), svc: ln.a.app.svc})
			if err := ln.shutdown(); err != nil {
				t.Fatalf("shutdown: %v", err)
			}

			var dumps map[string][]byte
			if db != "" {
				dumps = pgDumps(t, ln)
			} else {
				dumps = dataFiles(t, dir)
				if _, ok := dumps[filepath.Join("a", "gateway.db-wal")]; !ok {
					t.Error("no WAL to inspect: the embedded database was expected open, in WAL mode")
				}
			}
			// Positive control: what is not PHI is in clear, so the dump
			// holds the referrals we are looking for.
			var all []byte
			for _, b := range dumps {
				all = append(all, b...)
			}
			for _, id := range ids {
				if !bytes.Contains(all, []byte(id)) {
					t.Fatalf("referral id %s not found at rest: the inspection misses the referral rows", id)
				}
			}
			for name, b := range dumps {
				for field, canary := range canaryPHI {
					if form := leaked(b, canary); form != "" {
						t.Errorf("%s: the %s canary %q is at rest %s", name, field, canary, form)
					}
				}
			}
			ln.a.Close()
			ln.b.Close()
			if db == "" {
				// Closing checkpoints the WAL into the database file.
				for name, b := range dataFiles(t, dir) {
					for field, canary := range canaryPHI {
						if form := leaked(b, canary); form != "" {
							t.Errorf("%s after close: the %s canary is at rest %s", name, field, form)
						}
					}
				}
			}
		})
	}
}

// sendCanaries drives canary PHI through every channel and waits until
// each exchange has been recorded, then checks that it reads back intact.
// It returns the ids of the referrals it created.
func sendCanaries(ctx context.Context, t *testing.T, d *demoRun) []string {
	t.Helper()
	var ids []string
	c := &demoCase{}
	check := func(what string) {
		t.Helper()
		if c.failed != "" {
			t.Fatalf("%s: %s", what, c.failed)
		}
	}

	// FHIR push: accepted and completed with a consult note.
	r, dl := d.sendUntilReceived(ctx, c, "fhir", canaryReferral("ortho-ehr", "FHIR"), gateway.ChannelFHIR, "FHIR push")
	check("FHIR")
	ids = append(ids, r.ID)
	for _, mv := range []struct {
		status gateway.Status
		note   string
	}{{gateway.StatusAccepted, ""}, {gateway.StatusInProgress, ""}, {gateway.StatusCompleted, "DocumentReference/consult-note-1"}} {
		if mv.note == "" {
			if err := d.ln.ehr.move(dl.RemoteID, string(mv.status), "", ""); err != nil {
				t.Fatal(err)
			}
		} else {
			// The note's reference is an id on the EHR's side; its display
			// carries the consult note's text, which is PHI. Both change
			// in one step, as move does, so the follow loop sees both.
			d.ln.ehr.mu.Lock()
			task := d.ln.ehr.tasks[dl.RemoteID]
			task["status"] = string(mv.status)
			task["output"] = []any{map[string]any{
				"type":           map[string]any{"coding": []any{map[string]any{"system": "urn:referralgw:task-parameter", "code": "consult-note"}}},
				"valueReference": map[string]any{"reference": mv.note, "display": canaryPHI["consult note"]}}}
			d.ln.ehr.mu.Unlock()
		}
		if _, _, err := d.waitStatus(ctx, r.ID, mv.status); err != nil {
			t.Fatalf("FHIR follow to %s: %v", mv.status, err)
		}
	}
	// FHIR push declined by the EHR, with a reason in free text.
	r2, dl2 := d.sendUntilReceived(ctx, c, "fhir-decline", canaryReferral("ortho-ehr", "DECLINE"), gateway.ChannelFHIR, "FHIR push")
	check("FHIR decline")
	ids = append(ids, r2.ID)
	if err := d.ln.ehr.move(dl2.RemoteID, string(gateway.StatusRejected), canaryPHI["decline text"], ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.waitStatus(ctx, r2.ID, gateway.StatusRejected); err != nil {
		t.Fatalf("FHIR decline: %v", err)
	}

	// Direct: a Part 2 referral under a consent on file; B's HISP answers
	// with MDNs and B's staff reply by Direct.
	now := time.Now().UTC()
	if _, err := d.svc.CaptureConsent(ctx, demoReferrer, gateway.ConsentRecord{Tenant: "clinic-a", PatientID: canaryPHI["MRN"],
		Kind: gateway.ConsentPart2, Signed: now.AddDate(0, 0, -1), Expires: now.AddDate(1, 0, 0),
		Recipients: []string{"bh-direct"}, Purposes: []string{"treatment"}}); err != nil {
		t.Fatal(err)
	}
	n := canaryReferral("bh-direct", "DIRECT")
	n.Sensitive = gateway.Sensitivity{Part2: true, BehavioralHealth: true}
	n.Consent = gateway.ConsentRef{Kind: gateway.ConsentPart2, Purpose: "treatment"}
	n.Records = append(n.Records, gateway.NewRecord{Title: "Counselling", ContentType: "text/plain", Content: []byte(canaryPHI["part 2 record"])})
	r3, dl3 := d.sendUntilReceived(ctx, c, "direct", n, gateway.ChannelDirect, "Direct delivery")
	check("Direct")
	ids = append(ids, r3.ID)
	if err := d.replyAsB(ctx, r3.ID, dl3.RemoteID, "Accepted.\n"+canaryPHI["Direct reply"]); err != nil {
		t.Fatalf("B's reply: %v", err)
	}
	if _, _, err := d.waitStatus(ctx, r3.ID, gateway.StatusAccepted); err != nil {
		t.Fatalf("reply applied: %v", err)
	}

	// Fax: the packet goes through the vendor emulator.
	r4, _ := d.sendUntilReceived(ctx, c, "fax", canaryReferral("fax-clinic", "FAX"), gateway.ChannelFax, "fax delivery")
	check("fax")
	ids = append(ids, r4.ID)

	// Everything reads back intact: the canaries were stored, sealed.
	got, _, err := d.svc.Referral(ctx, r.ID)
	if err != nil || got.Patient.FamilyName != canaryPHI["family name"] || got.Outcome == nil || got.Outcome.Summary != canaryPHI["consult note"] {
		t.Fatalf("FHIR referral read back without its canaries: %v", err)
	}
	got, _, err = d.svc.Referral(ctx, r2.ID)
	if err != nil || !strings.Contains(fmt.Sprint(got.StatusReason, got.History), canaryPHI["decline text"]) {
		t.Fatalf("declined referral read back without its reason: %v", err)
	}
	recs, err := d.svc.RecordContents(ctx, r3)
	if err != nil || len(recs) != 2 || string(recs[1].Content) != canaryPHI["part 2 record"] {
		t.Fatalf("Direct records read back: %v", err)
	}
	return ids
}

// leaked says in which form canary appears in b ("" when it does not):
// in clear, in hex (pg_dump's bytea), or base64 at any alignment.
func leaked(b []byte, canary string) string {
	if bytes.Contains(b, []byte(canary)) {
		return "in clear"
	}
	if bytes.Contains(bytes.ToLower(b), []byte(hex.EncodeToString([]byte(canary)))) {
		return "hex-encoded"
	}
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte{0}, pad), canary...))
		core := enc[4 : len(enc)-4] // the part no neighbouring byte changes
		if bytes.Contains(b, []byte(core)) {
			return "base64-encoded"
		}
	}
	return ""
}

// dataFiles reads every regular file under dir, keyed by relative path.
func dataFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pgDumps runs pg_dump on each node's schema.
func pgDumps(t *testing.T, ln *loopNet) map[string][]byte {
	t.Helper()
	if _, err := exec.LookPath("pg_dump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pg_dump not installed")
		}
		t.Skip("pg_dump not installed")
	}
	out := map[string][]byte{}
	for _, n := range []*node{ln.a, ln.b} {
		u, err := url.Parse(n.app.cfg.DB)
		if err != nil {
			t.Fatal(err)
		}
		schema := u.Query().Get("search_path")
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = "5432"
		}
		user := "postgres"
		if u.User != nil {
			user = u.User.Username()
		}
		cmd := exec.Command("pg_dump", "-h", host, "-p", port, "-U", user, "-n", schema, strings.TrimPrefix(u.Path, "/"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("pg_dump %s: %v: %s", schema, err, stderr.String())
		}
		if !bytes.Contains(b, []byte("COPY "+schema+".referrals")) {
			t.Fatalf("pg_dump of %s has no referrals table", schema)
		}
		out["pg_dump "+schema] = b
	}
	return out
}
