package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
)

// randomName is prefix with ten random hex digits: a role or schema of
// this test alone on the shared server.
func randomName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// asSuperuser runs statements on the test server as its superuser and
// registers cleanup statements to run after the test.
func asSuperuser(t *testing.T, stmts []string, cleanup ...string) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, pgtest.URL()); err == nil {
			for _, q := range cleanup {
				_, _ = c.Exec(ctx, q)
			}
			_ = c.Close(ctx)
		}
	})
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// urlParts returns the role and the schema (search_path) of a test URL.
func urlParts(t *testing.T, u string) (role, schema string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return pu.User.Username(), pu.Query().Get("search_path")
}

// TestCallerCheckIgnoresTheCallersOperators: gateway_caller(),
// gateway_practice() and gateway_wide() had bodies stored as text, which
// PostgreSQL parses when it inlines them into the policies, under the
// search_path of the session running the statement. A holder of the
// application role's password (no caller token) who may create in any
// schema (public, in a database from before PostgreSQL 15) put an `=` and
// a `<>` on text of its own ahead of pg_catalog, and the check believed
// it: gateway_wide() answered true and every practice's rows, the data
// keys and River's jobs were open. Since migration 033 the bodies are
// parsed once, as the owner, and stored resolved.
func TestCallerCheckIgnoresTheCallersOperators(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	app, schema := urlParts(t, w.appURL)
	// A schema the role may create in: what public is to every role in a
	// database created before PostgreSQL 15.
	mine := randomName("gwtest_mine_")
	asSuperuser(t, []string{`CREATE SCHEMA ` + mine, `GRANT USAGE, CREATE ON SCHEMA ` + mine + ` TO ` + app},
		`DROP SCHEMA IF EXISTS `+mine+` CASCADE`)
	if n := w.count(t, gateway.GatewayWide(ctx, "test"), "referrals", ""); n == 0 {
		t.Fatal("the gateway sees no referral")
	}

	conn, err := pgx.Connect(ctx, withoutCaller(t, w.appURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE FUNCTION ` + mine + `.yes(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'`,
		`CREATE OPERATOR ` + mine + `.= (LEFTARG = text, RIGHTARG = text, FUNCTION = ` + mine + `.yes)`,
		`CREATE OPERATOR ` + mine + `.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = ` + mine + `.yes)`,
		`SET search_path = ` + mine + `, pg_catalog, ` + schema,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tables := append([]string{"data_keys", "documents", "river_job"}, practiceTables...)
	for _, sc := range []struct{ practice, path string }{{"north", ""}, {"", "audit-sequencer"}} {
		err := func() error {
			tx, err := conn.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `SELECT set_config('gateway.practice', $1, true), set_config('gateway.scope', $2, true)`, sc.practice, sc.path); err != nil {
				return err
			}
			var caller, wide bool
			var practice *string
			if err := tx.QueryRow(ctx, `SELECT gateway_caller(), gateway_wide(), gateway_practice()`).Scan(&caller, &wide, &practice); err != nil {
				return err
			}
			if caller || wide || practice != nil {
				t.Errorf("with its own operators, as %+v, the role is believed: caller %v, wide %v, practice %v", sc, caller, wide, practice)
			}
			for _, table := range tables {
				var n int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					t.Errorf("with its own operators, as %+v, the role reads %d rows of %s", sc, n, table)
				}
			}
			var subs int
			var baa *string
			if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM gateway_referral_subscriptions($1)), gateway_partner_baa('east')`, w.refBA.ID).Scan(&subs, &baa); err != nil {
				return err
			}
			if subs != 0 || baa != nil {
				t.Errorf("with its own operators, as %+v, the role learns %d subscription ids and east's BAA %v", sc, subs, baa)
			}
			return nil
		}()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestPartnerAnswersAreTheAppRolesAlone: PostgreSQL lets PUBLIC execute a
// new function, so any role that reached the schema could call the two
// SECURITY DEFINER answers of migration 031, which run as the owner. Since
// 033 only the application role (and the owner) may.
func TestPartnerAnswersAreTheAppRolesAlone(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	_, schema := urlParts(t, w.appURL)
	other := pgtest.RoleName(t, "gwtest_other_")
	asSuperuser(t, []string{`CREATE ROLE ` + other + ` LOGIN`, `GRANT USAGE ON SCHEMA ` + schema + ` TO ` + other})
	u, err := url.Parse(w.appURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(other)
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`SELECT count(*) FROM gateway_referral_subscriptions('x')`,
		`SELECT gateway_partner_baa('east') IS NULL`,
	} {
		var v any
		err := conn.QueryRow(ctx, q).Scan(&v)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "42501" {
			t.Errorf("another role with the schema's USAGE ran %q: %v, want permission denied", q, err)
		}
	}
	// The application role may (the gateway's own sessions).
	app, err := pgx.Connect(ctx, w.appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	var n int
	if err := app.QueryRow(ctx, `SELECT count(*) FROM gateway_referral_subscriptions($1)`, w.refBA.ID).Scan(&n); err != nil {
		t.Errorf("the application role cannot ask for the match: %v", err)
	}
}
