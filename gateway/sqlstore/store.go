package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/riverqueue/river"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// Store implements gateway.Store over a Backend.
type Store struct {
	b     Backend
	d     Dialect
	queue QueueConfig

	mu   sync.RWMutex
	keys *gateway.Sealer // seals PHI columns; see UseSealer
}

// New wraps an open, migrated backend.
func New(b Backend, queue QueueConfig) *Store {
	return &Store{b: b, d: b.Dialect(), queue: queue}
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
	t := &tx{c: btx, d: s.d, btx: btx, queue: s.queue, keys: s.Sealer()}
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
// only that practice's chain.
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
		btx, err := s.b.Begin(ctx, true)
		if err != nil {
			yield(audit.Entry{}, fmt.Errorf("store: begin: %w", err))
			return
		}
		defer btx.Rollback(context.WithoutCancel(ctx))
		sql := `SELECT tenant, seq, at, actor, referral_id, action, outcome, detail, prev_hash, hash FROM audit_log WHERE 1=1`
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
			var e audit.Entry
			var detail string
			if err := rows.Scan(&e.Tenant, &e.Seq, dbTime{&e.Time}, &e.Actor, nullString{&e.ReferralID}, &e.Action,
				&e.Outcome, &detail, &e.PrevHash, &e.Hash); err != nil {
				yield(audit.Entry{}, fmt.Errorf("store: scan audit entry: %w", err))
				return
			}
			if detail != "" && detail != "null" {
				if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
					// A row whose detail no longer parses was tampered with;
					// hand it on with the raw text so verification flags it.
					e.Detail = map[string]string{"_unparseable": detail}
				}
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
	var out []audit.Entry
	err := s.View(ctx, func(t gateway.Tx) error {
		x := unwrap(t)
		rows, err := x.query(ctx, `SELECT l.tenant, l.seq, l.at, l.hash FROM audit_log l
			JOIN audit_heads h ON h.tenant = l.tenant AND h.seq = l.seq ORDER BY l.tenant`)
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

// Checkpoints implements gateway.Store.
func (s *Store) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	ctx = auditScope(ctx)
	var out []audit.Checkpoint
	err := s.View(ctx, func(t gateway.Tx) error {
		x := unwrap(t)
		rows, err := x.query(ctx, `SELECT tenant, seq, hash, at, mac FROM audit_checkpoints ORDER BY tenant, seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c audit.Checkpoint
			if err := rows.Scan(&c.Tenant, &c.Seq, &c.Hash, dbTime{&c.Time}, &c.MAC); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// SaveCheckpoint implements gateway.Store.
func (s *Store) SaveCheckpoint(ctx context.Context, cp audit.Checkpoint) error {
	return s.Update(auditScope(ctx), func(t gateway.Tx) error {
		_, err := unwrap(t).exec(ctx, `INSERT INTO audit_checkpoints (tenant, seq, hash, at, mac) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant, seq) DO NOTHING`, cp.Tenant, cp.Seq, cp.Hash, cp.Time, cp.MAC)
		return err
	})
}

// StartWorkers implements gateway.Store.
func (s *Store) StartWorkers(ctx context.Context, h gateway.JobHandler) error {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliverWorker{h: h}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &inboundWorker{h: h}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &noticeWorker{h: h}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &pollWorker{h: h}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &edgeWorker{h: h}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &deadlineWorker{h: h}); err != nil {
		return err
	}
	return s.b.StartWorkers(ctx, workers, s.queue)
}

// StopWorkers implements gateway.Store.
func (s *Store) StopWorkers(ctx context.Context) error { return s.b.StopWorkers(ctx) }

// Ping implements gateway.Store.
func (s *Store) Ping(ctx context.Context) error { return s.b.Ping(ctx) }

// Close implements gateway.Store.
func (s *Store) Close() error { return s.b.Close() }

// IsNotFound maps a backend's no-rows error to gateway.ErrNotFound; the
// backends call it from Row.Scan.
func IsNotFound(err error) bool { return errors.Is(err, gateway.ErrNotFound) }
