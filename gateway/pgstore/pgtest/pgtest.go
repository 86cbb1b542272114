// Package pgtest gives tests a PostgreSQL schema of their own on the test
// server, so that tests in any package (store conformance, channel tests
// that run on both stores) set it up one way.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// URL is the PostgreSQL the tests use: GATEWAY_TEST_PG, or the local
// server these machines run.
func URL() string {
	if u := os.Getenv("GATEWAY_TEST_PG"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// FreshSchema creates a schema named prefix plus random hex on the test
// server, drops it when the test ends, and returns URL with that schema
// as its search_path. Without a reachable server the test is skipped,
// except under CI=true, where it fails.
func FreshSchema(t testing.TB, prefix string) string {
	t.Helper()
	base := URL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable under CI=true: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set GATEWAY_TEST_PG", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// AppRole migrates the schema at ownerURL as its owner, creates a
// gateway application role for it (NOSUPERUSER, NOBYPASSRLS, owning
// nothing: row-level security binds it, as in production), registers a
// caller token, drops the role when the test ends, and returns the URL
// that connects as that role with the token (the query parameter
// gateway.caller; without it the role is not the gateway).
func AppRole(t testing.TB, ownerURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owner, err := pgstore.Open(ctx, ownerURL, sqlstore.QueueConfig{}) // migrates as the owner
	if err != nil {
		t.Fatal(err)
	}
	owner.Close()
	role := RoleName(t, "gwtest_app_")
	if err := pgstore.GrantAppRole(ctx, ownerURL, role, ""); err != nil {
		t.Fatal(err)
	}
	// As `gateway migrate --app-role` does, register the gateway's caller
	// token; the URL carries it (a runtime parameter, as pgstore.WithCaller
	// sends it), so that the store and the tests' own connections are the
	// gateway's sessions. Without it the role sees no practice's rows.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	token := pgstore.CallerToken(key)
	if err := pgstore.RegisterCaller(ctx, ownerURL, token); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	q := u.Query()
	q.Set("gateway.caller", token)
	u.RawQuery = q.Encode()
	return u.String()
}

// RoleName returns a fresh role name, prefix plus random hex, and drops
// whatever role of that name exists, with what it owns, when the test
// ends. The test creates the role (or has the code under test create it).
func RoleName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	role := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, URL()); err == nil {
			_, _ = c.Exec(ctx, "DROP OWNED BY "+role)
			_, _ = c.Exec(ctx, "DROP ROLE IF EXISTS "+role)
			_ = c.Close(ctx)
		}
	})
	return role
}
