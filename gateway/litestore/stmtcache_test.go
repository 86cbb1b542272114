package litestore

import (
	"path/filepath"
	"testing"

	"github.com/referralgw/gateway/gateway/storetest"
)

// A statement a transaction ran unprepared is prepared once the
// transaction ends; the next transaction runs the cached preparation and
// reads what the first wrote. Scripts and statements without arguments
// are never cached.
func TestStatementCache(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gateway.db"), storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.Backend().(*backend)
	const insert = `INSERT INTO probe (id, note) VALUES (?, ?)`
	const read = `SELECT note FROM probe WHERE id = ?`
	for i, note := range []string{"first", "second"} {
		tx, err := b.Begin(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := tx.Exec(ctx, `CREATE TABLE probe (id integer PRIMARY KEY, note text); CREATE INDEX probe_note ON probe (note)`); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.Exec(ctx, insert, i, note); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := tx.QueryRow(ctx, read, i).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != note {
			t.Fatalf("transaction %d read %q, want %q", i, got, note)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if b.stmts.get(insert) == nil || b.stmts.get(read) == nil {
			t.Fatalf("after transaction %d the statements are not cached", i)
		}
	}
	for q := range b.stmts.stmts {
		if q == `CREATE TABLE probe (id integer PRIMARY KEY, note text); CREATE INDEX probe_note ON probe (note)` {
			t.Fatal("a script was cached")
		}
	}
}
