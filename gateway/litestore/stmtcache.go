package litestore

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds the prepared statements kept: the store's queries are a
// fixed set of texts, but a few (multi-row INSERTs, searches) vary with
// their arguments, and those stop being cached once the cache is full.
const maxStmts = 256

// stmtCache keeps statements prepared on the database, by text, so that a
// transaction runs them without parsing them again: database/sql with
// modernc's SQLite otherwise prepares every statement anew (a fifth of the
// embedded store's CPU). A transaction uses a cached statement through
// Tx.StmtContext, which reuses its preparation on the one connection.
type stmtCache struct {
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool // noted by a transaction, not yet prepared
}

func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[q]
}

// want reports whether q should be prepared after the current transaction
// (it is not cached, not already noted, and the cache has room).
func (c *stmtCache) want(q string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stmts[q] != nil || c.pending[q] || len(c.stmts)+len(c.pending) >= maxStmts {
		return false
	}
	if c.pending == nil {
		c.pending = map[string]bool{}
	}
	c.pending[q] = true
	return true
}

// prepare prepares q on db and caches it. A statement that does not
// prepare (it ran anyway, unprepared) is not noted again.
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB, q string) {
	s, err := db.PrepareContext(context.WithoutCancel(ctx), q)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		return // stays pending: never prepared again, run unprepared
	}
	delete(c.pending, q)
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[q] = s
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = nil
}
