package pgstore_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/storetest"
)

// appRoleURL creates a fresh application role on a freshly migrated schema
// and returns the schema's URL as the owner and as the app role. The role is
// dropped when the test ends.
func appRoleURL(t testing.TB) (ownerURL, appURL, role string) {
	t.Helper()
	ownerURL = pgtest.FreshSchema(t, "gwtest_")
	appURL = pgtest.AppRole(t, ownerURL)
	u, err := url.Parse(appURL)
	if err != nil {
		t.Fatal(err)
	}
	return ownerURL, appURL, u.User.Username()
}

func TestAppRoleCannotRewriteTheTrail(t *testing.T) {
	ctx := t.Context()
	_, appURL, role := appRoleURL(t)

	// The app role opens the owner's schema without migrating it and writes
	// through the store, audit entries included.
	s, err := pgstore.Open(ctx, appURL, storetest.FastQueue())
	if err != nil {
		t.Fatalf("open as app role: %v", err)
	}
	defer s.Close()
	err = s.Update(ctx, func(tx gateway.Tx) error {
		return tx.Audit(ctx, audit.Event{Time: time.Now(), Actor: "system", Tenants: []string{"clinic-a"},
			Action: "test.appended", Outcome: audit.OutcomeSuccess})
	})
	if err != nil {
		t.Fatalf("append as app role: %v", err)
	}
	// The sequencer runs as the app role too: it appends chain rows and
	// tree nodes, never changing one.
	if n, held, err := s.SequenceAudit(ctx); err != nil || !held || n != 1 {
		t.Fatalf("sequence as app role: %d events, lock held %v, %v", n, held, err)
	}

	conn, err := pgx.Connect(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super, bypass bool
	if err := conn.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, role).Scan(&super, &bypass); err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Fatalf("app role: superuser %v, bypassrls %v; want neither", super, bypass)
	}
	var owned int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tableowner = $1`, role).Scan(&owned); err != nil {
		t.Fatal(err)
	}
	if owned != 0 {
		t.Fatalf("app role owns %d tables; want none", owned)
	}
	// Row-level security shows the app role a practice's rows only when a
	// transaction acts for that practice (docs/tenancy.md).
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("app role reads audit_log acting for no practice: %d rows, %v", n, err)
	}
	ptx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ptx.Exec(ctx, `SELECT set_config('gateway.practice', 'clinic-a', true)`); err != nil {
		t.Fatal(err)
	}
	if err := ptx.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("app role reads audit_log acting for clinic-a: %d rows, %v", n, err)
	}
	ptx.Rollback(ctx)
	for _, table := range pgstore.AuditTables {
		col := "tenant"
		if table == "audit_events" {
			col = "actor"
		}
		for _, q := range []string{
			`ALTER TABLE ` + table + ` DISABLE TRIGGER ALL`,
			`UPDATE ` + table + ` SET ` + col + ` = ` + col,
			`DELETE FROM ` + table,
			`TRUNCATE ` + table,
			`DROP TABLE ` + table,
		} {
			_, err := conn.Exec(ctx, q)
			if err == nil {
				t.Errorf("app role ran %q", q)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, "permission denied") && !strings.Contains(msg, "must be owner") {
				t.Errorf("%q refused for the wrong reason: %v", q, err)
			}
		}
	}
}

func TestGrantAppRoleRefusesTheOwnerAndBadNames(t *testing.T) {
	_, ownerURL := openFreshURL(t, storetest.FastQueue())
	if err := pgstore.GrantAppRole(t.Context(), ownerURL, "postgres", ""); err == nil || !strings.Contains(err.Error(), "separate role") {
		t.Errorf("owner as app role: %v", err)
	}
	if err := pgstore.GrantAppRole(t.Context(), ownerURL, "app; DROP TABLE audit_log", ""); err == nil || !strings.Contains(err.Error(), "identifier") {
		t.Errorf("bad name: %v", err)
	}
}
