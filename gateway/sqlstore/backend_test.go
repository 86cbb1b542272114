package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	sqlite := Dialect{Name: "sqlite"}
	for _, c := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE b=$1 AND c=$2`, `SELECT a FROM t WHERE b=? AND c=?`},
		// In order, each once, past nine: plain ? numbers them alike.
		{`VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`, `VALUES (?,?,?,?,?,?,?,?,?,?,?)`},
		// A repeated or reordered argument keeps its number.
		{`WHERE a = $1 OR b = $1`, `WHERE a = ?1 OR b = ?1`},
		{`SET a=$2 WHERE id=$1`, `SET a=?2 WHERE id=?1`},
		{`VALUES ($1,$3)`, `VALUES (?1,?3)`},
		{`SELECT 1`, `SELECT 1`},
	} {
		if got := sqlite.Rebind(c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	pg := Dialect{Name: "postgres", NumberedArgs: true}
	if got := pg.Rebind(`WHERE a = $1`); got != `WHERE a = $1` {
		t.Errorf("PostgreSQL text rewritten: %q", got)
	}
	var cache rebinds
	for range 2 {
		if got := cache.rebind(sqlite, `SET a=$2 WHERE id=$1`); got != `SET a=?2 WHERE id=?1` {
			t.Errorf("cached rebind: %q", got)
		}
	}
}
