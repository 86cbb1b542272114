package main

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// createReferrals imports the directory and creates n referrals from
// testdata (each its own process-like run, so each writes its own data
// key), returning their ids.
func createReferrals(t *testing.T, dir string, n int) []string {
	t.Helper()
	if _, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	var ids []string
	for i := range n {
		ref := filepath.Join(t.TempDir(), "ref.json")
		b, _ := os.ReadFile(repoFile("referral.json"))
		b = []byte(strings.Replace(string(b), "CLINIC-A-2026-0001", "CLINIC-A-KEYS-"+string(rune('A'+i)), 1))
		abs, _ := filepath.Abs(repoFile("records"))
		b = []byte(strings.ReplaceAll(string(b), `"records/`, `"`+abs+`/`))
		os.WriteFile(ref, b, 0o600)
		out, errs, code := gw(t, dir, "referral", "create", "--file", ref)
		if code != 0 {
			t.Fatalf("create: %d %q %q", code, out, errs)
		}
		id := strings.TrimSuffix(strings.Fields(strings.TrimPrefix(out, "referral "))[0], ":")
		ids = append(ids, id)
	}
	return ids
}

func readable(t *testing.T, dir string, ids []string) {
	t.Helper()
	for _, id := range ids {
		out, errs, code := gw(t, dir, "referral", "show", id)
		if code != 0 || !strings.Contains(out, "Atrial fibrillation") {
			t.Fatalf("referral %s unreadable: %d %q %q", id, code, out, errs)
		}
	}
}

func TestKeysRotateWithKeyFiles(t *testing.T) {
	dir := t.TempDir()
	ids := createReferrals(t, dir, 3)
	before, _ := os.ReadFile(filepath.Join(dir, "keys", "record.key"))

	out, errs, code := gw(t, dir, "keys", "status")
	if code != 0 || !strings.Contains(out, "current") {
		t.Fatalf("status: %d %q %q", code, out, errs)
	}
	oldKEK := strings.Fields(strings.Split(out, "\n")[1])[0]

	out, errs, code = gw(t, dir, "keys", "rotate", "--actor", "keyadmin")
	if code != 0 {
		t.Fatalf("rotate: %d %q %q", code, out, errs)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "keys", "record.key"))
	if string(before) == string(after) {
		t.Fatal("rotate left the record key as it was")
	}
	if !strings.Contains(out, "retired KEK "+oldKEK) || strings.Contains(out, "rewrapped 0 ") {
		t.Fatalf("rotate output does not rewrap and retire the old KEK:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "keys", "retired", "*.key")); len(left) != 0 {
		t.Fatalf("retired KEK files left after every data key was rewrapped: %v", left)
	}
	checkPerm(t, filepath.Join(dir, "keys", "record.key"), 0o600)
	checkPerm(t, filepath.Join(dir, "keys", "retired"), 0o700)
	readable(t, dir, ids)

	out, _, _ = gw(t, dir, "keys", "status")
	if strings.Contains(out, oldKEK) || strings.Count(out, "current") != 1 {
		t.Fatalf("status after rotation still names the old KEK:\n%s", out)
	}
	// The rotation and the retirement are in the gateway's audit trail.
	out, _, code = gw(t, dir, "audit", "export", "--tenant", "gateway")
	if code != 0 || !strings.Contains(out, "keys.rotated") || !strings.Contains(out, "keys.retired") || !strings.Contains(out, "keyadmin") {
		t.Fatalf("rotation not audited:\n%.2000s", out)
	}
}

func TestKeysRotateWithEnvironmentKeys(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := randomKey(t), randomKey(t)
	t.Setenv("GATEWAY_RECORD_KEY", oldKey)
	ids := createReferrals(t, dir, 2)

	t.Setenv("GATEWAY_RECORD_KEY", newKey)
	// Without the old KEK the data keys cannot be opened, and saying so
	// names the missing KEK rather than returning garbage.
	if _, errs, code := gw(t, dir, "referral", "show", ids[0]); code == 0 || !strings.Contains(errs, "does not hold") {
		t.Fatalf("show without the old KEK: %d %q", code, errs)
	}
	t.Setenv("GATEWAY_RECORD_KEYS_RETIRED", oldKey)
	out, errs, code := gw(t, dir, "keys", "rotate")
	if code != 0 || !strings.Contains(out, "remove it from GATEWAY_RECORD_KEYS_RETIRED") {
		t.Fatalf("rotate: %d %q %q", code, out, errs)
	}
	t.Setenv("GATEWAY_RECORD_KEYS_RETIRED", "")
	readable(t, dir, ids)
}

func TestRefusesKeyFileReadableByOthers(t *testing.T) {
	for _, name := range []string{"record", "index", "audit-log"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, errs, code := gw(t, dir, "referral", "list"); code != 0 {
				t.Fatalf("first run: %q", errs)
			}
			path := filepath.Join(dir, "keys", name+".key")
			checkPerm(t, path, 0o600)
			checkPerm(t, filepath.Join(dir, "keys"), 0o700)
			if err := os.Chmod(path, 0o640); err != nil {
				t.Fatal(err)
			}
			_, errs, code := gw(t, dir, "referral", "list")
			if code != 1 || !strings.Contains(errs, "mode 0640") || !strings.Contains(errs, path) {
				t.Fatalf("started with a group-readable %s key: %d %q", name, code, errs)
			}
		})
	}
}

func randomKey(t *testing.T) string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

func checkPerm(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}
