package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// gw runs the CLI in-process against dataDir and returns stdout, stderr
// and the exit status main would use.
func gw(t *testing.T, dataDir string, args ...string) (string, string, int) {
	t.Helper()
	t.Setenv("GATEWAY_DATA_DIR", dataDir)
	t.Setenv("GATEWAY_DB", "")
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

func repoFile(name string) string { return filepath.Join("..", "..", "testdata", name) }

func TestDirectoryImportAndShow(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json"))
	firstTrail, _, _ := gw(t, dir, "audit", "export", "--tenant", "cardio-b")
	if code != 0 || !strings.Contains(out, "10 added, 3 updated, 0 unchanged, 0 skipped") {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	// Re-importing the same file is a no-op: six entries, four BAAs and
	// three verifications are already as the file says.
	out, errs, code = gw(t, dir, "directory", "import", repoFile("directory.json"))
	if code != 0 || !strings.Contains(out, "0 added, 0 updated, 13 unchanged, 0 skipped") {
		t.Fatalf("re-import: %d %q %q", code, out, errs)
	}
	// Nothing was written the second time: the audit trail did not grow.
	if trail, _, _ := gw(t, dir, "audit", "export", "--tenant", "cardio-b"); strings.Count(trail, `"AuditEvent"`) != strings.Count(firstTrail, `"AuditEvent"`) {
		t.Fatalf("re-import wrote audit entries")
	}
	out, _, code = gw(t, dir, "directory", "show", "cardio-b")
	var shown struct {
		ID  string `json:"id"`
		BAA struct {
			InForce string `json:"inForce"`
		} `json:"baa"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil || shown.ID != "cardio-b" || shown.BAA.InForce != "active" {
		t.Fatalf("show: %d %s", code, out)
	}
	// Flags may follow the positional argument; an illegal BAA move exits 3 and names the rule.
	_, errs, code = gw(t, dir, "directory", "set-baa", "cardio-b", "--state", "draft")
	if code != 3 || !strings.Contains(errs, "an active BAA cannot become draft") {
		t.Fatalf("illegal BAA transition: %d %q", code, errs)
	}
	_, errs, code = gw(t, dir, "directory", "show", "nobody")
	if code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("unknown entry: %d %q", code, errs)
	}
}

func TestDirectoryImportReportsBrokenRows(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "dir.json")
	os.WriteFile(file, []byte(`{"entries":[
		{"id":"ok-1","kind":"organization","name":"Fine Clinic"},
		{"id":"bad-npi","kind":"organization","name":"X","npi":"1234567890"},
		{"id":"bad-fax","kind":"organization","name":"Y","fax":{"number":"555-0100"}},
		{"id":"ok-2","kind":"organization","name":"Also Fine"}]}`), 0o600)
	out, _, code := gw(t, dir, "directory", "import", file)
	if code != 1 || !strings.Contains(out, "2 added, 0 updated, 0 unchanged, 2 skipped") ||
		!strings.Contains(out, "entries[1] (bad-npi): skipped: invalid input: invalid npi") ||
		!strings.Contains(out, "entries[2] (bad-fax)") || !strings.Contains(out, "fax.number") {
		t.Fatalf("import with broken rows: %d\n%s", code, out)
	}
	out, _, _ = gw(t, dir, "directory", "list")
	if !strings.Contains(out, "ok-1") || !strings.Contains(out, "ok-2") || strings.Contains(out, "bad-npi") {
		t.Fatalf("list after import:\n%s", out)
	}
}

func TestReferralRefusalsAndBadInput(t *testing.T) {
	dir := t.TempDir()
	gw(t, dir, "directory", "import", repoFile("directory.json"))
	ref := filepath.Join(t.TempDir(), "ref.json")
	b, _ := os.ReadFile(repoFile("referral.json"))
	var m map[string]any
	json.Unmarshal(b, &m)
	m["receiverId"] = "sunrise-bh"
	m["sensitivity"] = map[string]any{"part2": true}
	delete(m, "records")
	b, _ = json.Marshal(m)
	os.WriteFile(ref, b, 0o600)

	out, errs, code := gw(t, dir, "referral", "create", "--file", ref)
	if code != 3 || !strings.Contains(errs, "Part 2 consent not on file") || !strings.Contains(out, "held in draft") {
		t.Fatalf("part 2 without consent: %d %q %q", code, out, errs)
	}
	id := strings.Fields(strings.TrimPrefix(out, "referral "))[0]
	id = strings.TrimSuffix(id, ":")
	out, _, code = gw(t, dir, "referral", "show", id)
	if code != 0 || !strings.Contains(out, "status:    draft") || !strings.Contains(out, "blocked:") {
		t.Fatalf("show: %d\n%s", code, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"requester": {"orgId": "clinic-a"}, "receiverId": 7}`), 0o600)
	_, errs, code = gw(t, dir, "referral", "create", "--file", bad)
	if code != 1 || !strings.Contains(errs, `field "receiverId"`) {
		t.Fatalf("malformed JSON: %d %q", code, errs)
	}
	os.WriteFile(bad, []byte(`{"requester": {"orgId": "clinic-a"}, "receiverId": "nobody", "patient": {"id": "p"},
		"reason": {"code": "x"}, "consent": {"kind": "treatment"}}`), 0o600)
	_, errs, code = gw(t, dir, "referral", "create", "--file", bad)
	if code != 1 || !strings.Contains(errs, "receiverId") || !strings.Contains(errs, "not in the directory") {
		t.Fatalf("unknown receiver: %d %q", code, errs)
	}
	_, errs, code = gw(t, dir, "referral", "frobnicate")
	if code != 2 || !strings.Contains(errs, "unknown subcommand") {
		t.Fatalf("usage: %d %q", code, errs)
	}
	_, _, code = gw(t, dir, "referral", "transition", id, "--to", "accepted")
	if code != 3 {
		t.Fatalf("illegal transition exit: %d", code)
	}
}

func TestAuditVerifyPinpointsTampering(t *testing.T) {
	dir := t.TempDir()
	gw(t, dir, "directory", "import", repoFile("directory.json"))
	out, _, code := gw(t, dir, "audit", "verify")
	if code != 0 || !strings.Contains(out, "audit trail intact") {
		t.Fatalf("fresh trail: %d %q", code, out)
	}
	if _, _, code := gw(t, dir, "audit", "checkpoint"); code != 0 {
		t.Fatal("checkpoint")
	}
	// Change a row directly in SQL, as someone with the database file could.
	db, err := sql.Open("sqlite", filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`,
		`UPDATE audit_log SET outcome = 'failure' WHERE tenant = 'cardio-b' AND seq = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	out, _, code = gw(t, dir, "audit", "verify")
	if code != 1 || !strings.Contains(out, "practice cardio-b: first broken sequence number 2") {
		t.Fatalf("tampered trail: %d\n%s", code, out)
	}
	// The export still works and is a FHIR Bundle of AuditEvents.
	out, _, code = gw(t, dir, "audit", "export", "--format", "fhir", "--tenant", "clinic-a")
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &bundle) != nil || bundle.ResourceType != "Bundle" ||
		len(bundle.Entry) == 0 || bundle.Entry[0].Resource.ResourceType != "AuditEvent" {
		t.Fatalf("export: %d %.300s", code, out)
	}
}

func TestMigrateAndHelp(t *testing.T) {
	dir := t.TempDir()
	out, _, code := gw(t, dir, "migrate")
	if code != 0 || !strings.Contains(out, "schema up to date") {
		t.Fatalf("migrate: %d %q", code, out)
	}
	out, _, code = gw(t, dir, "help")
	if code != 0 || !strings.Contains(out, "directory") {
		t.Fatalf("help: %d", code)
	}
	_, errs, code := gw(t, dir, "bogus")
	if code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d", code)
	}
}

func TestDirectoryImportNPPESAndFHIR(t *testing.T) {
	dir := t.TempDir()
	nppes := filepath.Join("..", "..", "gateway", "dirimport", "testdata", "endpoint_pfile_sample.csv")
	out, errs, code := gw(t, dir, "directory", "import", "--format", "nppes", nppes)
	if !strings.Contains(out, "added") || !strings.Contains(errs, "import") {
		t.Fatalf("nppes import: %d %q %q", code, out, errs)
	}
	// The sample carries broken rows on purpose: they are listed and make the status 1.
	if strings.Contains(out, "skipped 0") != (code == 0) {
		t.Fatalf("exit status %d does not match the summary %q", code, out)
	}
	again, _, _ := gw(t, dir, "directory", "import", "--format", "nppes", nppes)
	if !strings.Contains(again, "added 0, updated 0") {
		t.Fatalf("re-import changed the directory: %q", again)
	}
	bundle := filepath.Join("..", "..", "gateway", "dirimport", "testdata", "plannet_bundle.json")
	out, errs, code = gw(t, dir, "directory", "import", "--format", "fhir", bundle)
	if !strings.Contains(out, "added") {
		t.Fatalf("fhir import: %d %q %q", code, out, errs)
	}
	out, _, code = gw(t, dir, "directory", "export")
	if code != 0 || !strings.Contains(out, `"resourceType": "Bundle"`) && !strings.Contains(out, `"resourceType":"Bundle"`) {
		t.Fatalf("export: %d %.200s", code, out)
	}
	_, errs, code = gw(t, dir, "directory", "import", "--format", "csv", nppes)
	if code != 2 || !strings.Contains(errs, "--format") {
		t.Fatalf("bad format: %d %q", code, errs)
	}
}

func TestAdminCreate(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("a long enough password\n"), 0o600)
	out, errs, code := gw(t, dir, "admin", "create", "--name", "alice", "--role", "auditor", "--gateway", "--password-file", pw)
	if code != 0 || !strings.Contains(out, "otpauth://totp/") || !strings.Contains(out, "alice (auditor, gateway-wide)") {
		t.Fatalf("admin create: %d %q %q", code, out, errs)
	}
	_, errs, code = gw(t, dir, "admin", "create", "--name", "alice", "--gateway", "--password-file", pw)
	if code == 0 {
		t.Fatalf("duplicate account accepted: %q", errs)
	}
	// Whose account it is must be said: one practice or the gateway.
	for _, args := range [][]string{{}, {"--gateway", "--practice", "clinic-a"}} {
		_, errs, code = gw(t, dir, append([]string{"admin", "create", "--name", "bob", "--password-file", pw}, args...)...)
		if code != 2 || !strings.Contains(errs, "--practice ID") {
			t.Fatalf("admin create %v: %d %q", args, code, errs)
		}
	}
	_, errs, code = gw(t, dir, "admin", "create", "--name", "bob", "--practice", "clinic-a", "--password-file", pw)
	if code == 0 || !strings.Contains(errs, "not in the directory") {
		t.Fatalf("practice account before the directory: %d %q", code, errs)
	}
	if _, errs, code = gw(t, dir, "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("directory import: %d %q", code, errs)
	}
	for _, bad := range []string{"dr-heart", "faxvendor"} {
		_, errs, code = gw(t, dir, "admin", "create", "--name", "bob", "--practice", bad, "--password-file", pw)
		if code == 0 || !strings.Contains(errs, "not a practice") {
			t.Fatalf("practice account of %s: %d %q", bad, code, errs)
		}
	}
	out, errs, code = gw(t, dir, "admin", "create", "--name", "bob", "--role", "operator", "--practice", "clinic-a", "--password-file", pw)
	if code != 0 || !strings.Contains(out, "bob (operator, practice clinic-a)") {
		t.Fatalf("practice account: %d %q %q", code, out, errs)
	}
	_, errs, code = gw(t, dir, "admin", "create", "--name", "bob", "--role", "operator", "--gateway", "--password-file", pw)
	if code == 0 || !strings.Contains(errs, "exists for practice clinic-a") {
		t.Fatalf("same name, gateway-wide: %d %q", code, errs)
	}
	os.WriteFile(pw, []byte("short\n"), 0o600)
	_, errs, code = gw(t, dir, "admin", "create", "--name", "carl", "--gateway", "--password-file", pw)
	if code != 2 || !strings.Contains(errs, "at least 12") {
		t.Fatalf("short password: %d %q", code, errs)
	}
}
