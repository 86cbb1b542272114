// Package litestore is the embedded default store: SQLite through the
// pure-Go modernc.org/sqlite driver, with River (riversqlite) as the job
// queue, in one file under the data directory. It needs no server, so a new
// user runs the gateway with zero set-up. One process owns the file.
//
// It only adapts database/sql to gateway/sqlstore; the schema and queries
// live there.
package litestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// Open opens (creating if needed) the SQLite database at path, applies
// River's and the gateway's migrations, and returns the store.
func Open(ctx context.Context, path string, queue sqlstore.QueueConfig) (*sqlstore.Store, error) {
	if err := restrictFiles(path); err != nil {
		return nil, fmt.Errorf("litestore: %w", err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("litestore: open %s: %w", path, err)
	}
	// SQLite has one writer; one connection avoids SQLITE_BUSY between our
	// transactions and River's (River's advice for this driver).
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("litestore: open %s: %w", path, err)
	}
	b := newBackend(db)
	b.path = path
	if err := b.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.New(b, queue), nil
}

type backend struct {
	db      *sql.DB
	stmts   stmtCache
	path    string // the database file; the sequencer's lock file sits beside it
	driver  *riversqlite.Driver
	inserts *river.Client[*sql.Tx]
	*sqlstore.WorkerPool[*sql.Tx]
}

func newBackend(db *sql.DB) *backend {
	driver := riversqlite.New(db)
	inserts, err := river.NewClient(driver, &river.Config{})
	if err != nil {
		panic(fmt.Sprintf("litestore: insert-only river client: %v", err)) // config is static: cannot fail
	}
	return &backend{db: db, driver: driver, inserts: inserts, WorkerPool: sqlstore.NewWorkerPool(driver, dialect)}
}

func (b *backend) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(b.driver, nil)
	if err != nil {
		return fmt.Errorf("litestore: river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("litestore: river migrations: %w", err)
	}
	if _, err := sqlstore.Migrate(ctx, b, ""); err != nil {
		return fmt.Errorf("litestore: %w", err)
	}
	return nil
}

// dialect is this database's SQL differences.
var dialect = sqlstore.Dialect{Name: "sqlite", TimeAsText: true}

func (b *backend) Dialect() sqlstore.Dialect {
	return dialect
}

func (b *backend) Begin(ctx context.Context, readOnly bool) (sqlstore.BackendTx, error) {
	t, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &btx{tx: t, b: b}, nil
}

// stmt returns q prepared for the transaction when the cache holds it;
// otherwise it notes q, to be prepared once the transaction has ended
// (with one connection, preparing now would wait for this very
// transaction).
func (t *btx) stmt(ctx context.Context, q string, args []any) *sql.Stmt {
	if len(args) == 0 || strings.Contains(q, ";") {
		return nil // DDL and scripts: run once, and a script prepares only its first statement
	}
	if s := t.b.stmts.get(q); s != nil {
		return t.tx.StmtContext(ctx, s)
	}
	if t.b.stmts.want(q) {
		t.missed = append(t.missed, q)
	}
	return nil
}

// end prepares the statements the transaction missed in the cache.
func (t *btx) end(ctx context.Context) {
	for _, q := range t.missed {
		t.b.stmts.prepare(ctx, t.b.db, q)
	}
	t.missed = nil
}

func (b *backend) Ping(ctx context.Context) error { return b.db.PingContext(ctx) }
func (b *backend) Close() error {
	b.stmts.close()
	return b.db.Close()
}

type btx struct {
	tx     *sql.Tx
	b      *backend
	missed []string // statements to prepare after the transaction
}

func (t *btx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	var (
		res sql.Result
		err error
	)
	if s := t.stmt(ctx, q, args); s != nil {
		res, err = s.ExecContext(ctx, args...)
	} else {
		res, err = t.tx.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *btx) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if s := t.stmt(ctx, q, args); s != nil {
		rows, err = s.QueryContext(ctx, args...)
	} else {
		rows, err = t.tx.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (t *btx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	if s := t.stmt(ctx, q, args); s != nil {
		return row{s.QueryRowContext(ctx, args...)}
	}
	return row{t.tx.QueryRowContext(ctx, q, args...)}
}

func (t *btx) InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := t.b.inserts.InsertTx(ctx, t.tx, args, opts)
	return err
}

func (t *btx) Commit(ctx context.Context) error {
	err := t.tx.Commit()
	t.end(ctx)
	return err
}

func (t *btx) Rollback(ctx context.Context) error {
	err := t.tx.Rollback()
	if !errors.Is(err, sql.ErrTxDone) {
		t.end(ctx)
	}
	return err
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return gateway.ErrNotFound
	}
	return err
}

// restrictFiles makes the database's directory (mode 0700) and file (mode
// 0600) readable by the gateway's user only, creating them if needed and
// tightening them if they exist. SQLite gives its -wal and -shm files the
// database file's mode. With no database roles to rely on, this and the
// audit witness are what protect the embedded trail.
func restrictFiles(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// LockSequencer takes an exclusive lock on <database>.sequencer, so one
// process sequences the audit trail; the kernel drops it if the process
// dies.
func (b *backend) LockSequencer(ctx context.Context) (func(), bool, error) {
	f, err := os.OpenFile(b.path+".sequencer", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}
