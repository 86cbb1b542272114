package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

//go:embed migrations
var migrationFS embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists a dialect's embedded migrations in version order.
func Migrations(dialect string) ([]Migration, error) {
	dir := path.Join("migrations", dialect)
	files, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", dialect, err)
	}
	var out []Migration
	for _, f := range files {
		name := f.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration file %s: want NNN_name.sql", name)
		}
		body, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: rest, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies the dialect's migrations that are not yet recorded in
// schema_migrations, each in its own transaction; lockSQL (when set)
// serialises concurrent migrators. It returns the versions it applied.
func Migrate(ctx context.Context, b Backend, lockSQL string) ([]int, error) {
	// Migrations change every practice's rows: on PostgreSQL they run on
	// the gateway-wide path "migrate" (FORCE ROW LEVEL SECURITY binds the
	// tables' owner too).
	ctx = gateway.GatewayWide(ctx, "migrate")
	d := b.Dialect()
	ms, err := Migrations(d.Name)
	if err != nil {
		return nil, err
	}
	var applied []int
	for _, m := range ms {
		done, err := applyOne(ctx, b, d, lockSQL, m)
		if err != nil {
			return applied, fmt.Errorf("migration %03d_%s: %w", m.Version, m.Name, err)
		}
		if done {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

func applyOne(ctx context.Context, b Backend, d Dialect, lockSQL string, m Migration) (bool, error) {
	btx, err := b.Begin(ctx, false)
	if err != nil {
		return false, err
	}
	defer btx.Rollback(context.WithoutCancel(ctx))
	if lockSQL != "" {
		if _, err := btx.Exec(ctx, lockSQL); err != nil {
			return false, err
		}
	}
	if _, err := btx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)`); err != nil {
		return false, err
	}
	var n int
	if err := btx.QueryRow(ctx, d.Rebind(`SELECT count(*) FROM schema_migrations WHERE version = $1`), m.Version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := btx.Exec(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := btx.Exec(ctx, d.Rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`),
		m.Version, m.Name, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return false, err
	}
	return true, btx.Commit(ctx)
}

// Pending lists the versions of the dialect's migrations not yet recorded
// in schema_migrations (all of them on an empty database). It only reads.
func Pending(ctx context.Context, b Backend) ([]int, error) {
	d := b.Dialect()
	ms, err := Migrations(d.Name)
	if err != nil {
		return nil, err
	}
	btx, err := b.Begin(ctx, true)
	if err != nil {
		return nil, err
	}
	defer btx.Rollback(context.WithoutCancel(ctx))
	table := `SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' AND table_schema = current_schema()`
	if d.Name == "sqlite" {
		table = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	}
	var n int
	if err := btx.QueryRow(ctx, table).Scan(&n); err != nil {
		return nil, fmt.Errorf("pending migrations: %w", err)
	}
	done := map[int]bool{}
	if n > 0 {
		rows, err := btx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return nil, fmt.Errorf("pending migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, fmt.Errorf("pending migrations: %w", err)
			}
			done[v] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("pending migrations: %w", err)
		}
	}
	var out []int
	for _, m := range ms {
		if !done[m.Version] {
			out = append(out, m.Version)
		}
	}
	return out, nil
}
