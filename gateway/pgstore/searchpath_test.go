package pgstore_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestRoleOwnSearchPathIsNotBelieved: an ordinary role may set its own
// default search_path (ALTER ROLE CURRENT_USER SET search_path), so whoever
// holds the application role's password could point the gateway's sessions
// at a schema of their own. The gateway sends its search_path in the
// startup packet, which takes precedence: the URL's, or PostgreSQL's
// built-in default when the URL names none. The role's own default never
// decides, and Open says how to name the schema when it finds none there.
func TestRoleOwnSearchPathIsNotBelieved(t *testing.T) {
	ctx := t.Context()
	base := pgtest.URL()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer admin.Close(ctx)
	role := pgtest.RoleName(t, "gwtest_sp_")
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	// What the role's password alone can do.
	as := func(query string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role)
		q := u.Query()
		q.Del("search_path")
		if query != "" {
			q.Set("search_path", query)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	c, err := pgx.Connect(ctx, as(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "ALTER ROLE CURRENT_USER SET search_path = attacker_schema"); err != nil {
		t.Fatalf("an ordinary role sets its own default: %v", err)
	}
	_ = c.Close(ctx)

	show := func(u string) string {
		conn, err := pgstore.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var sp string
		if err := conn.QueryRow(ctx, "SHOW search_path").Scan(&sp); err != nil {
			t.Fatal(err)
		}
		return sp
	}
	if got := show(as("")); got != `"$user", public` {
		t.Errorf("search_path of a session for a URL naming none: %q, want PostgreSQL's default, not the role's attacker_schema", got)
	}
	if got := show(as("gw_named")); got != "gw_named" {
		t.Errorf("search_path of a session for a URL naming gw_named: %q", got)
	}

	// No migrated schema on the default path (the role may not create in
	// public): the refusal says how to name the schema.
	_, err = pgstore.Open(ctx, as(""), storetest.FastQueue())
	if err == nil || !strings.Contains(err.Error(), "?search_path=<schema>") {
		t.Fatalf("Open without a schema on the path: %v, want advice to name the schema", err)
	}
}
