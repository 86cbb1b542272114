package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigCheckMasksSecrets reads a file with every kind of secret:
// config check validates it, prints the effective settings with their
// sources, and never prints a secret.
func TestConfigCheckMasksSecrets(t *testing.T) {
	dir := t.TempDir()
	certs := t.TempDir()
	file := writeConfig(t, `
db = "postgres://gateway:s3cret-pw@db.internal:5432/gateway?sslmode=verify-full"
public_url = "https://gw.clinic-a.example"
baa_warning = "720h"

[direct]
domain = "direct.clinic-a.example"
certs = "`+certs+`"

[fax]
api = "https://api.phaxio.com"
vendor = "faxvendor"
key = "fax-key-value"
secret = "fax-secret-value"
callback_token = "fax-token-value"
`)
	t.Setenv("GATEWAY_FAX_VENDOR", "other-vendor") // the environment wins over the file
	out, errs, code := gw(t, dir, "config", "check", "--config", file, "--baa-warning", "48h")
	if code != 0 {
		t.Fatalf("config check: %d\n%s\n%s", code, out, errs)
	}
	for _, secret := range []string{"s3cret-pw", "fax-key-value", "fax-secret-value", "fax-token-value"} {
		if strings.Contains(out, secret) || strings.Contains(errs, secret) {
			t.Errorf("config check printed the secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		"# configuration file: " + file,
		`"postgres://gateway:****@db.internal:5432/gateway?sslmode=verify-full"`,
		`"https://gw.clinic-a.example"`, "# file",
		`"48h0m0s"`, "# flag --baa-warning",
		`"other-vendor"`, "# env GATEWAY_FAX_VENDOR",
		`key                = "****"`, "# configuration OK",
		"record key: not yet created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
}

func TestConfigCheckNamesProblems(t *testing.T) {
	dir := t.TempDir()
	file := writeConfig(t, `
http = "nonsense"
colour = "blue"
baa_warning = "soon"

[fax]
api = "ftp://fax.example"
key = "k"
`)
	out, errs, code := gw(t, dir, "config", "check", "--config", file)
	if code != 1 {
		t.Fatalf("bad config: %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"colour: unknown setting", "baa_warning: want a duration", `http: "nonsense" is not host:port`,
		"fax.api: want an absolute https or http URL", "fax.api needs fax.key, fax.secret"} {
		if !strings.Contains(errs, want) {
			t.Errorf("problems lack %q:\n%s", want, errs)
		}
	}
	if strings.Contains(out+errs, `"k"`) {
		t.Errorf("secret printed:\n%s%s", out, errs)
	}
	// Other commands refuse to run on a broken file, naming it; help still works.
	_, errs, code = gw(t, dir, "directory", "list", "--config", file)
	if code != 1 || !strings.Contains(errs, "config "+file) {
		t.Fatalf("directory list with a broken config: %d %q", code, errs)
	}
	if _, _, code = gw(t, dir, "directory", "list", "-h", "--config", file); code != 0 {
		t.Fatalf("help with a broken config: %d", code)
	}
	_, errs, code = gw(t, dir, "config", "check", "--config", filepath.Join(dir, "missing.toml"))
	if code != 1 || !strings.Contains(errs, "missing.toml") {
		t.Fatalf("missing file: %d %q", code, errs)
	}
}

// TestConfigFileDrivesCommands runs commands with the file instead of
// flags and environment: the data directory comes from it (given as
// GATEWAY_CONFIG or as a global --config before the command).
func TestConfigFileDrivesCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "from-file")
	file := writeConfig(t, `data = "`+data+`"
`)
	t.Setenv("GATEWAY_CONFIG", file)
	if _, errs, code := gw(t, "", "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("import: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(data, "gateway.db")); err != nil {
		t.Fatalf("the file's data directory was not used: %v", err)
	}
	t.Setenv("GATEWAY_CONFIG", "")
	out, errs, code := gw(t, "", "--config", file, "directory", "show", "cardio-b")
	if code != 0 || !strings.Contains(out, `"cardio-b"`) {
		t.Fatalf("show with --config: %d %q %q", code, out, errs)
	}
}
