package sqlstore

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
)

// Conn runs statements inside one transaction.
type Conn interface {
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result; Scan returns gateway.ErrNotFound for no row.
type Row interface {
	Scan(dest ...any) error
}

// BackendTx is a database transaction that can also queue River jobs.
type BackendTx interface {
	Conn
	// InsertJob queues a River job inside the transaction.
	InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Backend is what one database supplies.
type Backend interface {
	Dialect() Dialect
	// Begin starts a transaction. A backend with RowSecurity scopes it to
	// gateway.ScopeFrom(ctx) before any other statement runs.
	Begin(ctx context.Context, readOnly bool) (BackendTx, error)
	// StartWorkers creates the River client that works jobs and starts it.
	// periodic are scheduled on the elected leader.
	StartWorkers(ctx context.Context, workers *river.Workers, cfg QueueConfig, periodic []*river.PeriodicJob) error
	StopWorkers(ctx context.Context) error
	// LockSequencer takes the database's audit sequencer lock without
	// waiting: ok is false when another process holds it. unlock releases it.
	LockSequencer(ctx context.Context) (unlock func(), ok bool, err error)
	Ping(ctx context.Context) error
	Close() error
}

// Dialect is what differs in SQL text between the databases.
type Dialect struct {
	Name string // "postgres" or "sqlite"
	// ForUpdate is appended to a SELECT that locks its row ("" when the
	// database serialises writers anyway).
	ForUpdate string
	// NumberedArgs is true when the database takes $1-style placeholders;
	// otherwise they are rewritten to ?1.
	NumberedArgs bool
	// TimeAsText stores times as fixed-width UTC text (SQLite).
	TimeAsText bool
	// RowSecurity is true when the database enforces row-level security
	// on the acting practice (PostgreSQL): the backend sets the scope of
	// each transaction from its context (gateway.ScopeFrom), and the store
	// can change it inside a transaction with SetScopeSQL.
	RowSecurity bool
}

// SetScopeSQL sets the transaction-local settings the row-level security
// policies read; its two arguments are the practice and the gateway-wide
// path ("" for none). See migrations/postgres/005_row_security.sql.
const SetScopeSQL = `SELECT set_config('gateway.practice', $1, true), set_config('gateway.scope', $2, true)`

var dollarArg = regexp.MustCompile(`\$(\d+)`)

// Rebind rewrites $N placeholders for the dialect. When they run $1, $2,
// ... in order, each once, SQLite gets plain ? placeholders: it numbers
// those the same way, and binds them without looking up a name per
// argument (with ?N, binding n arguments costs time in n², which made the
// sequencer's many-row INSERTs a third of the embedded store's CPU).
func (d Dialect) Rebind(q string) string {
	if d.NumberedArgs {
		return q
	}
	ms := dollarArg.FindAllStringSubmatch(q, -1)
	for i, m := range ms {
		if m[1] != strconv.Itoa(i+1) {
			return dollarArg.ReplaceAllString(q, "?$1")
		}
	}
	return dollarArg.ReplaceAllString(q, "?")
}

// maxRebinds bounds the rewritten texts a store keeps; texts that vary
// with their arguments stop being kept once it is full.
const maxRebinds = 512

// rebinds caches Dialect.Rebind's rewrites by text: the regular
// expression cost a few percent of the embedded store's CPU.
type rebinds struct {
	mu sync.RWMutex
	m  map[string]string
}

func (r *rebinds) rebind(d Dialect, q string) string {
	r.mu.RLock()
	out, ok := r.m[q]
	r.mu.RUnlock()
	if ok {
		return out
	}
	out = d.Rebind(q)
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]string{}
	}
	if len(r.m) < maxRebinds {
		r.m[q] = out
	}
	r.mu.Unlock()
	return out
}

// timeText is the text form of times in SQLite: fixed width, so text order
// is time order.
const timeText = "2006-01-02T15:04:05.000000000Z"

// Args converts arguments for the dialect: zero times become NULL, and
// SQLite gets times as text.
func (d Dialect) Args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			switch {
			case t.IsZero():
				out[i] = nil
			case d.TimeAsText:
				out[i] = t.UTC().Format(timeText)
			default:
				out[i] = t.UTC()
			}
			continue
		}
		out[i] = a
	}
	return out
}

// QueueConfig tunes the River workers.
type QueueConfig struct {
	MaxWorkers        int
	FetchPollInterval time.Duration
	MaxAttempts       int
	// RetryBase is the first retry delay; each retry doubles it, capped at RetryMax.
	RetryBase time.Duration
	RetryMax  time.Duration
	// JobTimeout bounds one run of a job; RescueAfter re-queues a job whose
	// worker died (a crashed process) that long after its last heartbeat
	// (running jobs send one every RescueAfter/4).
	JobTimeout  time.Duration
	RescueAfter time.Duration
	// RescueEvery is how often the leader looks for such jobs (RescueAfter/5,
	// at least a second, when zero). Work in flight at a crash resumes within RescueAfter +
	// RescueEvery of the crash, plus a leader election when the crashed
	// process was the leader.
	RescueEvery time.Duration
	// Logger receives River's own log lines (leader elections, rescues);
	// nil leaves River's default.
	Logger *slog.Logger
}

// DefaultQueueConfig is the production queue tuning. A job left running
// by a crashed process (its heartbeats stopped) is rescued 20 s after its
// last heartbeat, looked for every 4 s: work in flight at a crash resumes
// within 30 s of a restart.
func DefaultQueueConfig() QueueConfig {
	return QueueConfig{MaxWorkers: 20, FetchPollInterval: time.Second, MaxAttempts: 10,
		RetryBase: 5 * time.Second, RetryMax: 30 * time.Minute, JobTimeout: 2 * time.Minute, RescueAfter: 20 * time.Second}
}

// withDefaults fills RescueAfter and RescueEvery.
func (q QueueConfig) withDefaults() QueueConfig {
	if q.RescueAfter <= 0 {
		q.RescueAfter = DefaultQueueConfig().RescueAfter
	}
	if q.RescueEvery <= 0 {
		q.RescueEvery = max(q.RescueAfter/5, time.Second)
	}
	return q
}

// Pipeliner is a Conn that can hold back a statement whose result nobody
// reads until the next statement that needs an answer, or the commit, and
// send them together in one round trip.
type Pipeliner interface {
	// ExecLater queues sql. When wantRows is set, a statement that changes
	// no row fails with ErrNoRowsChanged. A failed statement fails the
	// transaction, in the database too: check, when not nil, turns its
	// error into the one the next statement and the commit return, and
	// nothing commits. check sees only failures: a statement that
	// succeeded cannot fail the transaction afterwards (its round trip may
	// already have carried the COMMIT).
	ExecLater(ctx context.Context, wantRows bool, check func(err error) error, sql string, args ...any)
}

// ErrNoRowsChanged is the failure of a statement queued with wantRows
// that changed no row.
var ErrNoRowsChanged = errors.New("no row changed")

// RoundTrips counts a backend's round trips to its database.
type RoundTrips struct {
	// InTransactions are those inside the store's transactions (BEGIN and
	// COMMIT included); All adds River's own fetches, completions and
	// heartbeats, the sequencer and everything else on the connections.
	InTransactions, All int64
}

// RoundTripCounter is a Backend that counts its round trips.
type RoundTripCounter interface {
	RoundTrips() RoundTrips
}

type roundTripsKey struct{}

// CountRoundTrips returns ctx carrying n: a backend that counts round trips
// also adds those of each transaction begun with the returned context to n
// (a benchmark's way to count one caller's transactions apart from others).
func CountRoundTrips(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, roundTripsKey{}, n)
}

// RoundTripsFrom returns the counter CountRoundTrips put in ctx, or nil.
func RoundTripsFrom(ctx context.Context) *atomic.Int64 {
	n, _ := ctx.Value(roundTripsKey{}).(*atomic.Int64)
	return n
}
