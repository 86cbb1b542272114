package pgstore_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestGrantAppRoleAgainAsAnOrdinaryOwner: docs/operations.md tells the
// operator to run `gateway migrate --app-role` after every upgrade and
// after restoring a dump. On a managed PostgreSQL the schema's owner is an
// ordinary role (CREATEROLE, not superuser), and PostgreSQL lets only a
// superuser name the SUPERUSER, BYPASSRLS or REPLICATION attribute in ALTER
// ROLE, even to say NO: the second run failed. It now states only what
// differs, and still refuses to keep an app role that has one of them.
func TestGrantAppRoleAgainAsAnOrdinaryOwner(t *testing.T) {
	ctx := t.Context()
	owner := plainOwnerSchema(t)
	s, err := pgstore.Open(ctx, owner, storetest.FastQueue()) // migrates as the ordinary owner
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	role := pgtest.RoleName(t, "gwtest_app_")
	for run := 1; run <= 2; run++ {
		if err := pgstore.GrantAppRole(ctx, owner, role, "synthetic-password"); err != nil {
			t.Fatalf("grant, run %d: %v", run, err)
		}
	}
	// A role that gained BYPASSRLS meanwhile is not kept quietly: only a
	// superuser can take it away, and the refusal says so.
	su, err := pgx.Connect(ctx, pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	if _, err := su.Exec(ctx, "ALTER ROLE "+role+" BYPASSRLS"); err != nil {
		t.Fatal(err)
	}
	err = pgstore.GrantAppRole(ctx, owner, role, "")
	if err == nil || !strings.Contains(err.Error(), "BYPASSRLS") {
		t.Fatalf("grant to a role with BYPASSRLS as an ordinary owner: %v, want a refusal naming BYPASSRLS", err)
	}
}
