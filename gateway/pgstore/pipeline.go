package pgstore

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// ptx is one transaction on a pooled connection that sends its statements
// in as few round trips as it can. BEGIN and the scope settings wait for
// the first statement; writes whose results nobody reads (ExecLater) wait
// for the next statement that needs an answer, or for COMMIT, and go out
// with it in one pipelined batch. A queued statement that fails fails the
// transaction: every later call and the commit return its error, and the
// transaction rolls back.
type ptx struct {
	b      *backend
	conn   *pgxpool.Conn
	queue  []queued
	begun  bool  // BEGIN has been sent (or is in the batch being sent)
	done   bool  // committed or rolled back; the connection is released
	err    error // the first failure; the transaction can only roll back
	pgxTx  riverTx
	rounds *atomic.Int64 // the backend's count
	caller *atomic.Int64 // the caller's count (sqlstore.CountRoundTrips), or nil
}

// queued is a statement held back until the next round trip; check, when
// set, turns its failure into the transaction's error.
type queued struct {
	sql      string
	args     []any
	wantRows bool
	check    func(err error) error
}

func (b *backend) beginPipelined(ctx context.Context, readOnly bool) (*ptx, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	sc := gateway.ScopeFrom(ctx)
	begin := "BEGIN"
	if readOnly {
		// A read takes one snapshot for all its statements: under READ
		// COMMITTED each statement would see the commits made since the
		// last, so a referral read before a commit and its deliveries read
		// after it would show a state that never existed. A read-only
		// transaction never fails serialization, so nothing is retried.
		begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	}
	t := &ptx{b: b, conn: conn, rounds: &b.txRounds, caller: sqlstore.RoundTripsFrom(ctx)}
	t.pgxTx = riverTx{t}
	t.queue = append(t.queue, queued{sql: begin}, queued{sql: sqlstore.SetScopeSQL, args: []any{sc.Practice, sc.GatewayPath}})
	return t, nil
}

// ExecLater implements sqlstore.Pipeliner. A statement that must change
// a row is wrapped so that changing none is an error in the database
// (division by zero over its count of changed rows): the transaction
// aborts there, and a COMMIT later in the same batch does not run.
func (t *ptx) ExecLater(_ context.Context, wantRows bool, check func(error) error, sql string, args ...any) {
	if wantRows {
		sql = "WITH changed AS (" + sql + " RETURNING 1) SELECT 1/count(*) FROM changed"
	}
	t.queue = append(t.queue, queued{sql: sql, args: args, wantRows: wantRows, check: check})
}

// divisionByZero is the SQLSTATE of a wantRows statement that changed no row.
const divisionByZero = "22012"

// usable reports why the transaction cannot run another statement.
func (t *ptx) usable() error {
	if t.done {
		return pgx.ErrTxClosed
	}
	return t.err
}

// fail records the transaction's first failure and returns it.
func (t *ptx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return t.err
}

// send sends the queued statements followed by last (when not empty) in
// one batch, checks the queued statements' results and returns the
// batch for reading last's result; the caller closes it.
func (t *ptx) send(ctx context.Context, last string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	for _, q := range t.queue {
		b.Queue(q.sql, q.args...)
	}
	if last != "" {
		b.Queue(last, args...)
	}
	pending := t.queue
	t.queue = nil
	t.begun = true
	t.roundTrip()
	br := t.conn.SendBatch(ctx, b)
	for _, q := range pending {
		_, err := br.Exec()
		if err != nil {
			var pgErr *pgconn.PgError
			if q.wantRows && errors.As(err, &pgErr) && pgErr.Code == divisionByZero {
				err = sqlstore.ErrNoRowsChanged
			}
			if q.check != nil {
				err = q.check(err)
			}
			_ = br.Close()
			return nil, t.fail(err)
		}
	}
	return br, nil
}

// roundTrip counts one round trip.
func (t *ptx) roundTrip() {
	t.rounds.Add(1)
	if t.caller != nil {
		t.caller.Add(1)
	}
}

// flush sends what is queued, if anything.
func (t *ptx) flush(ctx context.Context) error {
	if err := t.usable(); err != nil {
		return err
	}
	if len(t.queue) == 0 {
		return nil
	}
	br, err := t.send(ctx, "", nil)
	if err != nil {
		return err
	}
	if err := br.Close(); err != nil {
		return t.fail(err)
	}
	return nil
}

func (t *ptx) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if len(args) == 0 {
		// Without arguments the text may hold several statements (a
		// migration), which only the simple protocol runs: alone.
		if err := t.flush(ctx); err != nil {
			return 0, err
		}
		t.begun = true // flush sent BEGIN
		t.roundTrip()
		tag, err := t.conn.Exec(ctx, sql)
		if err != nil {
			return 0, t.fail(err)
		}
		return tag.RowsAffected(), nil
	}
	if err := t.usable(); err != nil {
		return 0, err
	}
	br, err := t.send(ctx, sql, args)
	if err != nil {
		return 0, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, t.fail(err)
	}
	return tag.RowsAffected(), nil
}

func (t *ptx) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	rows, err := t.query(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// query sends the queue and sql in one batch and returns sql's rows; closing
// them finishes the batch.
func (t *ptx) query(ctx context.Context, sql string, args []any) (*batchRows, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	br, err := t.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, t.fail(err)
	}
	return &batchRows{Rows: rows, br: br, t: t}, nil
}

func (t *ptx) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	rows, err := t.query(ctx, sql, args)
	if err != nil {
		return errRow{err}
	}
	return batchRow{rows, gateway.ErrNotFound}
}

func (t *ptx) InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if err := t.usable(); err != nil {
		return err
	}
	_, err := t.b.inserts.InsertTx(ctx, t.pgxTx, args, opts)
	return err
}

// Commit sends what is queued and COMMIT in one batch. It ends the
// transaction whatever happens: on failure it rolls back and returns the
// connection, as pgx's own Commit does.
func (t *ptx) Commit(ctx context.Context) error {
	if err := t.commit(ctx); err != nil {
		if !t.done {
			_ = t.release(context.WithoutCancel(ctx), t.begun)
		}
		return err
	}
	return nil
}

func (t *ptx) commit(ctx context.Context) error {
	if err := t.usable(); err != nil {
		return err
	}
	if !t.begun && len(t.queue) <= 2 {
		// Nothing ran: nothing to commit.
		return t.release(ctx, false)
	}
	br, err := t.send(ctx, "COMMIT", nil)
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	if err != nil {
		return t.fail(err)
	}
	return t.release(ctx, false)
}

// Rollback ends the transaction, if it is not ended yet.
func (t *ptx) Rollback(ctx context.Context) error {
	if t.done {
		return nil
	}
	return t.release(ctx, t.begun)
}

// release rolls back when asked and returns the connection to the pool
// (which closes it if it is still inside a transaction).
func (t *ptx) release(ctx context.Context, rollback bool) error {
	t.done = true
	t.queue = nil
	var err error
	if rollback && !t.conn.Conn().IsClosed() {
		t.roundTrip()
		_, err = t.conn.Exec(ctx, "ROLLBACK")
	}
	t.conn.Release()
	return err
}

// batchRows are a query's rows read from a batch; Close finishes the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
	t  *ptx
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return r.t.fail(err)
	}
	return nil
}

func (r *batchRows) Close() {
	r.Rows.Close()
	err := r.Rows.Err()
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.t.fail(err)
	}
}

// batchRow is the first row of batchRows; noRows is what Scan returns
// when there is none (gateway.ErrNotFound for the store, pgx.ErrNoRows for
// River, which expects pgx's).
type batchRow struct {
	rows   *batchRows
	noRows error
}

func (r batchRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return r.noRows
	}
	return r.rows.Rows.Scan(dest...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// riverTx shows a ptx to River as a pgx.Tx, so that a job is inserted in
// the transaction: its queries join the pipeline like the store's own.
type riverTx struct{ t *ptx }

var errNested = errors.New("pgstore: nested transactions are not supported")

func (r riverTx) Begin(context.Context) (pgx.Tx, error) { return nil, errNested }
func (r riverTx) Commit(context.Context) error          { return errNested }
func (r riverTx) Rollback(context.Context) error        { return errNested }
func (r riverTx) LargeObjects() pgx.LargeObjects        { return pgx.LargeObjects{} }
func (r riverTx) Conn() *pgx.Conn                       { return r.t.conn.Conn() }

func (r riverTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := r.t.flush(ctx); err != nil {
		return 0, err
	}
	return r.t.conn.CopyFrom(ctx, table, cols, src)
}

func (r riverTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := r.t.flush(ctx); err != nil {
		return errBatch{err}
	}
	r.t.roundTrip()
	return r.t.conn.SendBatch(ctx, b)
}

func (r riverTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := r.t.flush(ctx); err != nil {
		return nil, err
	}
	return r.t.conn.Conn().Prepare(ctx, name, sql)
}

// Exec queues the statement: River reads nothing from its Execs in a
// transaction (the insert notification), and its failure fails the
// transaction at the next round trip.
func (r riverTx) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := r.t.usable(); err != nil {
		return pgconn.CommandTag{}, err
	}
	r.t.queue = append(r.t.queue, queued{sql: sql, args: args})
	return pgconn.CommandTag{}, nil
}

func (r riverTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := r.t.query(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (r riverTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := r.t.query(ctx, sql, args)
	if err != nil {
		return errRow{err}
	}
	return batchRow{rows, pgx.ErrNoRows}
}

// errBatch is a batch that failed before it was sent.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

// counter counts round trips to PostgreSQL: each statement sent alone and
// each batch is one.
type counter struct{ n *atomic.Int64 }

func (c counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (counter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
