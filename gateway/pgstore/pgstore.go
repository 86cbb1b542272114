// Package pgstore is the production store: PostgreSQL through pgx/v5, with
// River (riverpgxv5) as the durable job queue. Several gateway processes
// may share one database: row locks serialise changes to a referral, and
// River hands each job to one worker.
//
// It only adapts pgx to gateway/sqlstore; the schema and queries live there.
package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/referralgw/gateway/gateway/sqlstore"
)

// migrationLock serialises concurrent migrators across processes.
const migrationLock = `SELECT pg_advisory_xact_lock(72100001)`

// Open connects to the database at url, applies River's and the gateway's
// migrations, and returns the store. It refuses a database that registered
// callers (RegisterCaller) when opts do not name one of them (WithCaller)
// and url's user does not own the schema.
func Open(ctx context.Context, url string, queue sqlstore.QueueConfig, opts ...Option) (*sqlstore.Store, error) {
	cfg, pinned, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(cfg.ConnConfig)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, defaultMaxConns)
	}
	all := new(atomic.Int64)
	cfg.ConnConfig.Tracer = counter{all}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	b, err := newBackend(pool, all)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := b.migrate(ctx); err != nil {
		pool.Close()
		if pinned {
			return nil, fmt.Errorf("%w (the URL names no search_path, so the gateway's schema is looked up on PostgreSQL's default, %s, not on the role's own default: name the schema in the URL, ?search_path=<schema>)", err, defaultSearchPath)
		}
		return nil, err
	}
	if err := b.checkCaller(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return sqlstore.New(b, queue), nil
}

// defaultSearchPath is PostgreSQL's built-in search_path, which the
// gateway's sessions use when the URL names none. It is sent in the
// startup packet, which takes precedence over the role's own default: an
// ordinary role may change that default itself (ALTER ROLE CURRENT_USER
// SET search_path), so with the role's password alone one could otherwise
// put a schema of its own in front of the gateway's unqualified names,
// inside sessions that carry the caller token (docs/tenancy.md).
const defaultSearchPath = `"$user", public`

// poolConfig parses url and pins the session's search_path: the one the
// URL names (as a parameter of its own or in options, -c search_path=...),
// or defaultSearchPath, in which case pinned is true.
func poolConfig(url string) (cfg *pgxpool.Config, pinned bool, err error) {
	cfg, err = pgxpool.ParseConfig(url)
	if err != nil {
		return nil, false, fmt.Errorf("pgstore: parse database URL: %w", err)
	}
	p := cfg.ConnConfig.RuntimeParams
	if p["search_path"] == "" && !strings.Contains(p["options"], "search_path") {
		p["search_path"], pinned = defaultSearchPath, true
	}
	return cfg, pinned, nil
}

// Connect opens one connection to url with the search_path pinned as Open
// pins it, so that every connection of the gateway (the owner's grants and
// caller registration among them) sees the same schema.
func Connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, _, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg.ConnConfig)
}

// defaultMaxConns is the pool size when the URL does not set
// pool_max_conns: pgxpool's default (the number of CPUs, at least 4) is
// less than the transactions in flight at a modest load (the River
// workers, the HTTP and SMTP edges, River's own listener and fetches).
const defaultMaxConns = 16

type backend struct {
	pool *pgxpool.Pool
	// txRounds counts round trips inside the store's transactions,
	// allRounds every round trip on the pool (River's own included).
	txRounds  atomic.Int64
	allRounds *atomic.Int64
	driver    *riverpgxv5.Driver
	inserts   *river.Client[pgx.Tx]
	*sqlstore.WorkerPool[pgx.Tx]
}

func newBackend(pool *pgxpool.Pool, all *atomic.Int64) (*backend, error) {
	driver := riverpgxv5.New(pool)
	inserts, err := river.NewClient(driver, &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("pgstore: river client: %w", err)
	}
	return &backend{pool: pool, allRounds: all, driver: driver, inserts: inserts, WorkerPool: sqlstore.NewWorkerPool(driver, dialect)}, nil
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
// gateway-wide path) that ctx carries, as transaction-local settings: they
// end with the transaction, so a pooled connection never carries one
// practice's scope into the next transaction. With no scope, the settings
// are empty and the row-level security policies show no practice rows.
// BEGIN and the settings go out with the transaction's first statement
// (see ptx).
func (b *backend) Begin(ctx context.Context, readOnly bool) (sqlstore.BackendTx, error) {
	return b.beginPipelined(ctx, readOnly)
}

// RoundTrips implements sqlstore.RoundTripCounter.
func (b *backend) RoundTrips() sqlstore.RoundTrips {
	return sqlstore.RoundTrips{InTransactions: b.txRounds.Load(), All: b.allRounds.Load()}
}

func (b *backend) Ping(ctx context.Context) error { return b.pool.Ping(ctx) }

func (b *backend) Close() error {
	b.pool.Close()
	return nil
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
