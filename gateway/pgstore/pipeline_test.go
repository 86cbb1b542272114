package pgstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// pipelineTable makes a scratch table in the store's schema and returns
// the backend.
func pipelineTable(t *testing.T) sqlstore.Backend {
	t.Helper()
	b := OpenFresh(t, storetest.FastQueue()).Backend()
	tx, err := b.Begin(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), `CREATE TABLE pipeline_probe (id int PRIMARY KEY, note text)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b
}

func probeCount(t *testing.T, b sqlstore.Backend) int {
	t.Helper()
	tx, err := b.Begin(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	var n int
	if err := tx.QueryRow(t.Context(), `SELECT count(*) FROM pipeline_probe WHERE id > $1`, 0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Queued writes go out with the next read, in order, and BEGIN with them:
// three inserts, a read of what they wrote and the commit are two round
// trips.
func TestPipelineRoundTrips(t *testing.T) {
	b := pipelineTable(t)
	var rounds atomic.Int64
	ctx := sqlstore.CountRoundTrips(t.Context(), &rounds)
	tx, err := b.Begin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	p, ok := tx.(sqlstore.Pipeliner)
	if !ok {
		t.Fatal("the PostgreSQL transaction does not pipeline")
	}
	for i := 1; i <= 3; i++ {
		p.ExecLater(ctx, true, nil, `INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)`, i, "queued")
	}
	if got := rounds.Load(); got != 0 {
		t.Fatalf("queued writes cost %d round trips before any read", got)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM pipeline_probe WHERE note = $1`, "queued").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("the read saw %d rows, want 3", n)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rounds.Load(); got != 2 {
		t.Fatalf("%d round trips, want 2 (BEGIN, writes and read; COMMIT)", got)
	}
	if got := probeCount(t, b); got != 3 {
		t.Fatalf("%d rows committed, want 3", got)
	}
}

// A queued write that fails fails the transaction: the next read returns
// its checked error, so does the commit, and nothing commits.
func TestPipelineFailedWriteFailsTransaction(t *testing.T) {
	b := pipelineTable(t)
	ctx := t.Context()
	tx, err := b.Begin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	p := tx.(sqlstore.Pipeliner)
	conflict := func(err error) error { return errors.Join(gateway.ErrConflict, err) }
	p.ExecLater(ctx, false, conflict, `INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)`, 1, "first")
	p.ExecLater(ctx, false, conflict, `INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)`, 1, "duplicate")
	p.ExecLater(ctx, false, conflict, `INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)`, 2, "after the failure")
	var n int
	err = tx.QueryRow(ctx, `SELECT count(*) FROM pipeline_probe WHERE id > $1`, 0).Scan(&n)
	if !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("read after a failed write: %v, want the write's conflict", err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("commit after a failed write: %v, want the write's conflict", err)
	}
	if err := tx.Rollback(context.WithoutCancel(ctx)); err != nil {
		t.Fatal(err)
	}
	if got := probeCount(t, b); got != 0 {
		t.Fatalf("%d rows committed, want none", got)
	}
}

// A statement that must change a row and changes none fails the
// transaction although its round trip also carried the COMMIT: the write
// before it does not commit, and the connection goes back to the pool
// usable.
func TestPipelineNoRowChangedAtCommit(t *testing.T) {
	b := pipelineTable(t)
	ctx := t.Context()
	for round := range 3 {
		tx, err := b.Begin(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		p := tx.(sqlstore.Pipeliner)
		p.ExecLater(ctx, true, nil, `INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)`, 7, "before the failure")
		p.ExecLater(ctx, true, func(err error) error {
			if errors.Is(err, sqlstore.ErrNoRowsChanged) {
				return gateway.ErrNotFound
			}
			return err
		}, `UPDATE pipeline_probe SET note = $2 WHERE id = $1`, 42, "no such row")
		if err := tx.Commit(ctx); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("round %d: commit: %v, want the check's not-found", round, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := probeCount(t, b); got != 0 {
		t.Fatalf("%d rows, want none", got)
	}
}
