package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// QueueCount is how many jobs of one kind are in one state.
type QueueCount struct {
	Kind  string // the River job kind: "deliver", "receipt_deadline"
	State string // available, scheduled, retryable or running
	Jobs  int
}

// QueueDepth counts the jobs waiting or running, by kind and state, for
// the metrics exporter. Finished jobs (completed, cancelled, discarded)
// are not counted.
func (s *Store) QueueDepth(ctx context.Context) ([]QueueCount, error) {
	var out []QueueCount
	err := s.View(ctx, func(t gateway.Tx) error {
		rows, err := unwrap(t).query(ctx, `SELECT kind, state, count(*) FROM river_job
			WHERE state IN ('available', 'scheduled', 'retryable', 'running') GROUP BY kind, state ORDER BY kind, state`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c QueueCount
			if err := rows.Scan(&c.Kind, &c.State, &c.Jobs); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: queue depth: %w", err)
	}
	return out, nil
}

// LatestCheckpoint returns when the newest signed chain checkpoint was
// made; the zero time when there is none yet.
func (s *Store) LatestCheckpoint(ctx context.Context) (time.Time, error) {
	ctx = auditScope(ctx)
	var at time.Time
	err := s.View(ctx, func(t gateway.Tx) error {
		return unwrap(t).queryRow(ctx, `SELECT max(at) FROM audit_signed_heads`).Scan(dbTime{&at})
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("store: latest checkpoint: %w", err)
	}
	return at, nil
}
