// Package pgstore is the production store: PostgreSQL through pgx/v5, with
// River (riverpgxv5) as the durable job queue. Several gateway processes
// may share one database: row locks serialise changes to a referral, and
// River hands each job to one worker.
//
// It only adapts pgx to gateway/sqlstore; the schema and queries live there.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// migrationLock serialises concurrent migrators across processes.
const migrationLock = `SELECT pg_advisory_xact_lock(72100001)`

// Open connects to the database at url, applies River's and the gateway's
// migrations, and returns the store.
func Open(ctx context.Context, url string, queue sqlstore.QueueConfig) (*sqlstore.Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: parse database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	b, err := newBackend(pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := b.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return sqlstore.New(b, queue), nil
}

type backend struct {
	pool    *pgxpool.Pool
	driver  *riverpgxv5.Driver
	inserts *river.Client[pgx.Tx]
	*sqlstore.WorkerPool[pgx.Tx]
}

func newBackend(pool *pgxpool.Pool) (*backend, error) {
	driver := riverpgxv5.New(pool)
	inserts, err := river.NewClient(driver, &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("pgstore: river client: %w", err)
	}
	return &backend{pool: pool, driver: driver, inserts: inserts, WorkerPool: sqlstore.NewWorkerPool(driver, dialect)}, nil
}

// migrate brings River's and the gateway's schema up to date. A schema that
// already is changes nothing, so the application role, which may not create
// or alter tables, opens a database its owner migrated.
func (b *backend) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(b.driver, nil)
	if err != nil {
		return fmt.Errorf("pgstore: river migrator: %w", err)
	}
	if current, err := b.schemaCurrent(ctx, m); err != nil {
		return err
	} else if current {
		return nil
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("pgstore: river migrations: %w", err)
	}
	if _, err := sqlstore.Migrate(ctx, b, migrationLock); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}

// schemaCurrent reports whether neither River nor the gateway has a
// migration left to apply.
func (b *backend) schemaCurrent(ctx context.Context, m *rivermigrate.Migrator[pgx.Tx]) (bool, error) {
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("pgstore: river migrations: %w", err)
	}
	if !res.OK {
		return false, nil
	}
	pending, err := sqlstore.Pending(ctx, b)
	if err != nil {
		return false, fmt.Errorf("pgstore: %w", err)
	}
	return len(pending) == 0, nil
}

// dialect is this database's SQL differences.
var dialect = sqlstore.Dialect{Name: "postgres", ForUpdate: "FOR UPDATE", NumberedArgs: true, RowSecurity: true}

func (b *backend) Dialect() sqlstore.Dialect {
	return dialect
}

// Begin starts a transaction scoped to the acting practice (or named
// gateway-wide path) that ctx carries. The scope goes out with BEGIN in one
// round trip, as transaction-local settings: they end with the transaction,
// so a pooled connection never carries one practice's scope into the next
// transaction. With no scope, the settings are empty and the row-level
// security policies show no practice rows.
func (b *backend) Begin(ctx context.Context, readOnly bool) (sqlstore.BackendTx, error) {
	sc := gateway.ScopeFrom(ctx)
	begin := "BEGIN"
	if readOnly {
		begin = "BEGIN READ ONLY"
	}
	opts := pgx.TxOptions{BeginQuery: begin + "; SELECT set_config('gateway.practice', " + escapeLiteral(sc.Practice) +
		", true), set_config('gateway.scope', " + escapeLiteral(sc.GatewayPath) + ", true)"}
	t, err := b.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &btx{tx: t, b: b}, nil
}

// escapeLiteral quotes s as an escape-string literal (E'...'), which reads
// the same whatever standard_conforming_strings says; a NUL byte, which no
// practice id holds and the protocol cannot carry, is dropped.
func escapeLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "E'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func (b *backend) Ping(ctx context.Context) error { return b.pool.Ping(ctx) }

func (b *backend) Close() error {
	b.pool.Close()
	return nil
}

type btx struct {
	tx pgx.Tx
	b  *backend
}

func (t *btx) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (t *btx) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	rows, err := t.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (t *btx) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return row{t.tx.QueryRow(ctx, sql, args...)}
}

func (t *btx) InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := t.b.inserts.InsertTx(ctx, t.tx, args, opts)
	return err
}

func (t *btx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t *btx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.ErrNotFound
	}
	return err
}

// sequencerLock is the advisory lock class of the audit sequencer; the
// second key is the hash of the schema, so schemas sharing a database
// each have their own sequencer.
const sequencerLock = 72100002

// LockSequencer takes the audit sequencer's session advisory lock on a
// connection of its own (outside the pool), held until unlock or until the
// process dies, when PostgreSQL releases it with the session.
func (b *backend) LockSequencer(ctx context.Context) (func(), bool, error) {
	conn, err := pgx.ConnectConfig(ctx, b.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema()))`, sequencerLock).Scan(&ok); err != nil || !ok {
		conn.Close(context.WithoutCancel(ctx))
		return nil, false, err
	}
	return func() { conn.Close(context.Background()) }, true, nil
}
