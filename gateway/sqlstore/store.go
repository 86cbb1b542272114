package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// Store implements gateway.Store over a Backend.
type Store struct {
	b     Backend
	d     Dialect
	queue QueueConfig

	binds rebinds

	mu   sync.RWMutex
	keys *gateway.Sealer // seals PHI columns; see UseSealer
	seq  *sequencer
}

// New wraps an open, migrated backend.
func New(b Backend, queue QueueConfig) *Store {
	s := &Store{b: b, d: b.Dialect(), queue: queue}
	s.seq = newSequencer(s)
	return s
}

// Backend returns the underlying database backend.
func (s *Store) Backend() Backend { return s.b }

// Update implements gateway.Store.
func (s *Store) Update(ctx context.Context, fn func(gateway.Tx) error) error {
	return s.run(ctx, false, fn)
}

// View implements gateway.Store.
func (s *Store) View(ctx context.Context, fn func(gateway.Tx) error) error {
	return s.run(ctx, true, fn)
}

func (s *Store) run(ctx context.Context, readOnly bool, fn func(gateway.Tx) error) (err error) {
	btx, err := s.b.Begin(ctx, readOnly)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	// Roll back on every way out but a commit: an error, a panic, or
	// runtime.Goexit (a test's t.Fatal inside fn).
	finished := false
	defer func() {
		if !finished {
			_ = btx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	t := &tx{c: btx, d: s.d, btx: btx, queue: s.queue, keys: s.Sealer(), binds: &s.binds}
	if err := fn(scopeTx(ctx, t)); err != nil {
		return err
	}
	if err := t.flushAudit(ctx); err != nil {
		return err
	}
	var stored []storedKey
	if !readOnly {
		if stored, err = t.storePendingDataKeys(ctx); err != nil {
			return err
		}
	}
	finished = true
	if readOnly {
		return btx.Rollback(ctx)
	}
	if err := btx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	for _, sk := range stored {
		sk.k.DataKeyStored(sk.id)
	}
	return nil
}

// auditScope returns ctx unchanged when it acts for a practice or a named
// path, else on the gateway-wide path gateway.PathAudit: reading and
// checkpointing every chain (verification) is gateway-wide work, and the
// trail holds ids and metadata, no PHI.
func auditScope(ctx context.Context) context.Context {
	if gateway.ScopeFrom(ctx).Empty() {
		return gateway.GatewayWide(ctx, gateway.PathAudit)
	}
	return ctx
}

// AuditEntries implements gateway.Store. Acting for a practice, it streams
// only that practice's chain. When this process is (or can become) the
// sequencer, it first sequences every committed event, so a reader sees its
// own writes; otherwise (another process holds the lock, or the store is a
// follower) it reads what the sequencing process has sequenced.
func (s *Store) AuditEntries(ctx context.Context, q gateway.AuditQuery) iter.Seq2[audit.Entry, error] {
	ctx = auditScope(ctx)
	if p := gateway.ScopeFrom(ctx).Practice; p != "" {
		// The same restriction the PostgreSQL policy applies, in code, so
		// the embedded store keeps it too.
		if q.Tenant != "" && q.Tenant != p {
			return func(func(audit.Entry, error) bool) {}
		}
		q.Tenant = p
	}
	return func(yield func(audit.Entry, error) bool) {
		if err := s.sequenceForRead(ctx); err != nil {
			yield(audit.Entry{}, err)
			return
		}
		btx, err := s.b.Begin(ctx, true)
		if err != nil {
			yield(audit.Entry{}, fmt.Errorf("store: begin: %w", err))
			return
		}
		defer btx.Rollback(context.WithoutCancel(ctx))
		sql := `SELECT ` + auditColumns + ` FROM audit_log WHERE 1=1`
		var args []any
		if q.Tenant != "" {
			args = append(args, q.Tenant)
			sql += fmt.Sprintf(" AND tenant = $%d", len(args))
		}
		if q.ReferralID != "" {
			args = append(args, q.ReferralID)
			sql += fmt.Sprintf(" AND referral_id = $%d", len(args))
		}
		sql += " ORDER BY tenant, seq"
		rows, err := btx.Query(ctx, s.d.Rebind(sql), s.d.Args(args)...)
		if err != nil {
			yield(audit.Entry{}, fmt.Errorf("store: audit entries: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanAuditEntry(rows.Scan)
			if err != nil {
				yield(audit.Entry{}, fmt.Errorf("store: scan audit entry: %w", err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(audit.Entry{}, fmt.Errorf("store: audit entries: %w", err))
		}
	}
}

// AuditHeads implements gateway.Store.
func (s *Store) AuditHeads(ctx context.Context) ([]audit.Entry, error) {
	ctx = auditScope(ctx)
	if err := s.sequenceForRead(ctx); err != nil {
		return nil, err
	}
	var out []audit.Entry
	err := s.View(ctx, func(t gateway.Tx) error {
		x := unwrap(t)
		rows, err := x.query(ctx, `SELECT l.tenant, l.seq, l.at, l.hash FROM audit_log l
			JOIN (SELECT tenant, max(seq) AS seq FROM audit_log GROUP BY tenant) h ON h.tenant = l.tenant AND h.seq = l.seq
			ORDER BY l.tenant`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e audit.Entry
			if err := rows.Scan(&e.Tenant, &e.Seq, dbTime{&e.Time}, &e.Hash); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// auditColumns are the audit_log columns scanAuditEntry reads, in order.
const auditColumns = `tenant, seq, at, actor, referral_id, action, outcome, detail, prev_hash, hash`

// scanAuditEntry reads one audit_log row selected as auditColumns. A
// detail that no longer parses was tampered with: it is handed on as raw
// text so that verification flags the entry.
func scanAuditEntry(scan func(dest ...any) error) (audit.Entry, error) {
	var e audit.Entry
	var detail string
	if err := scan(&e.Tenant, &e.Seq, dbTime{&e.Time}, &e.Actor, nullString{&e.ReferralID}, &e.Action,
		&e.Outcome, &detail, &e.PrevHash, &e.Hash); err != nil {
		return audit.Entry{}, err
	}
	if detail != "" && detail != "null" {
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			e.Detail = map[string]string{"_unparseable": detail}
		}
	}
	return e, nil
}

// AuditUnsequenced implements gateway.Store.
func (s *Store) AuditUnsequenced(ctx context.Context) (int, time.Time, error) {
	ctx = auditScope(ctx)
	var (
		n      int
		oldest time.Time
	)
	err := s.View(ctx, func(t gateway.Tx) error {
		x := unwrap(t)
		rows, err := x.query(ctx, `SELECT e.at FROM audit_events e
			WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.event_id = e.id) ORDER BY e.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var at time.Time
			if err := rows.Scan(dbTime{&at}); err != nil {
				return err
			}
			if n == 0 || at.Before(oldest) {
				oldest = at
			}
			n++
		}
		return rows.Err()
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: unsequenced audit events: %w", err)
	}
	return n, oldest, nil
}

// AuditInclusion implements gateway.Store.
func (s *Store) AuditInclusion(ctx context.Context, tenant string, seq int64, size uint64) (audit.Entry, [][]byte, error) {
	var (
		entry audit.Entry
		proof [][]byte
	)
	ctx = auditScope(ctx)
	if seq < 1 || uint64(seq) > size {
		return entry, nil, fmt.Errorf("audit proof: seq %d is not in a tree of size %d: %w", seq, size, gateway.ErrNotFound)
	}
	if p := gateway.ScopeFrom(ctx).Practice; p != "" && p != tenant {
		// What AuditEntries and the PostgreSQL policy hide from a practice.
		return entry, nil, fmt.Errorf("audit proof: %s seq %d: %w", tenant, seq, gateway.ErrNotFound)
	}
	err := s.View(ctx, func(t0 gateway.Tx) error {
		t := unwrap(t0)
		var err error
		// The entry is inside a signed tree of size >= seq, so it is
		// sequenced already: read that one row, not the whole chain.
		if entry, err = scanAuditEntry(t.queryRow(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE tenant = $1 AND seq = $2`, tenant, seq).Scan); err != nil {
			return fmt.Errorf("audit proof: %s seq %d: %w", tenant, seq, err)
		}
		proof, err = audit.InclusionProof(uint64(seq-1), size, func(ids []audit.NodeID) ([][]byte, error) { return nodeHashes(ctx, t, tenant, ids) })
		return err
	})
	return entry, proof, err
}

// StartWorkers implements gateway.Store.
func (s *Store) StartWorkers(ctx context.Context, h gateway.JobHandler) error {
	workers := river.NewWorkers()
	run := newJobRunner(h, s.queue)
	if err := river.AddWorkerSafely(workers, &deliverWorker{worker[deliverArgs]{run: run}}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &inboundWorker{worker[inboundArgs]{run: run}}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &noticeWorker{worker[noticeArgs]{run: run}}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &pollWorker{worker[pollArgs]{run: run}}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &edgeWorker{worker[edgeArgs]{run: run}}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &deadlineWorker{worker[deadlineArgs]{run: run}}); err != nil {
		return err
	}
	var periodic []*river.PeriodicJob
	if ps, ok := h.(gateway.PeriodicSource); ok {
		periodic = periodicJobs(ps.PeriodicJobs(), s.queue)
	}
	return s.b.StartWorkers(ctx, workers, s.queue, periodic)
}

// StopWorkers implements gateway.Store.
func (s *Store) StopWorkers(ctx context.Context) error { return s.b.StopWorkers(ctx) }

// Ping implements gateway.Store.
func (s *Store) Ping(ctx context.Context) error { return s.b.Ping(ctx) }

// Close implements gateway.Store. The sequencer, when this process holds
// it (or can take it) and does not follow another's, sequences and
// publishes what is left first.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.seq.close(ctx)
	return errors.Join(err, s.b.Close())
}

// IsNotFound maps a backend's no-rows error to gateway.ErrNotFound; the
// backends call it from Row.Scan.
func IsNotFound(err error) bool { return errors.Is(err, gateway.ErrNotFound) }

// RoundTrips returns the backend's counts of round trips to its database;
// ok is false when the backend does not count them.
func (s *Store) RoundTrips() (rt RoundTrips, ok bool) {
	if c, ok := s.b.(RoundTripCounter); ok {
		return c.RoundTrips(), true
	}
	return rt, false
}
