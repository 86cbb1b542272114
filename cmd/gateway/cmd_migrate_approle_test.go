package main

import (
	neturl "net/url"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
)

// TestMigrateAppRoleRegistersTheCaller: `migrate --app-role` registers
// the caller token of the keys it runs with, so a gateway with those keys
// works as the app role, and one with other keys (the role's password
// without the gateway's keys) is told at once that the database does not
// recognise it, instead of seeing every practice's rows or none.
func TestMigrateAppRoleRegistersTheCaller(t *testing.T) {
	urls, drop, err := freshSchemas(t.Context(), requirePG(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	role := pgtest.RoleName(t, "gwtest_app_")
	dir := t.TempDir()
	out, errs, code := gw(t, dir, "migrate", "--db", urls[0], "--app-role", role)
	if code != 0 || !strings.Contains(out, "registered this gateway's caller token") {
		t.Fatalf("migrate --app-role: %d %q %q", code, out, errs)
	}
	u, err := neturl.Parse(urls[0])
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.User(role)
	app := u.String()

	if out, errs, code := gw(t, dir, "directory", "import", "--db", app, repoFile("directory.json")); code != 0 || !strings.Contains(out, "added") {
		t.Fatalf("import as the app role with the gateway's keys: %d %q %q", code, out, errs)
	}
	if out, errs, code := gw(t, dir, "directory", "list", "--db", app); code != 0 || !strings.Contains(out, "cardio-b") {
		t.Fatalf("directory as the app role with the gateway's keys: %d %q %q", code, out, errs)
	}
	_, errs, code = gw(t, t.TempDir(), "directory", "list", "--db", app)
	if code == 0 || !strings.Contains(errs, "does not recognise this gateway") {
		t.Fatalf("the app role with other keys: %d %q", code, errs)
	}
}
