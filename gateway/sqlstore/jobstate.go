package sqlstore

import (
	"context"
	"fmt"

	"github.com/referralgw/gateway/gateway"
)

// UnfinishedJobs implements gateway.Tx: River's job rows of kind in the
// states before completion, counted by state. An edge kind is a River
// "edge" job whose arguments name it.
func (t *tx) UnfinishedJobs(ctx context.Context, kind gateway.JobKind) (gateway.JobCounts, error) {
	args, _ := jobArgs(gateway.Job{Kind: kind}, t.queue)
	q := `SELECT state, count(*) FROM river_job WHERE kind = $1
		AND state IN ('available', 'scheduled', 'pending', 'running', 'retryable')`
	params := []any{args.Kind()}
	if _, edge := args.(edgeArgs); edge {
		if t.d.Name == "postgres" {
			q += ` AND args->>'kind' = $2`
		} else {
			q += ` AND json_extract(args, '$.kind') = $2`
		}
		params = append(params, string(kind))
	}
	var c gateway.JobCounts
	rows, err := t.query(ctx, q+` GROUP BY state`, params...)
	if err != nil {
		return c, fmt.Errorf("unfinished %s jobs: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return c, fmt.Errorf("unfinished %s jobs: %w", kind, err)
		}
		switch state {
		case "running":
			c.Running += n
		case "retryable":
			c.Retrying += n
		default:
			c.Waiting += n
		}
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("unfinished %s jobs: %w", kind, err)
	}
	return c, nil
}

// QueueWorked implements gateway.Tx: River elects a leader among the
// clients working the queue and keeps renewing its lease while it runs,
// so an unexpired leader row means a process works the queue. A process
// that stopped cleanly resigned; one that died leaves a lease that runs
// out within River's election interval.
func (t *tx) QueueWorked(ctx context.Context) (bool, error) {
	q := `SELECT count(*) FROM river_leader WHERE expires_at > now()`
	if t.d.Name != "postgres" {
		q = `SELECT count(*) FROM river_leader WHERE unixepoch(expires_at, 'subsec') > unixepoch('now', 'subsec')`
	}
	var n int
	if err := t.queryRow(ctx, q).Scan(&n); err != nil {
		return false, fmt.Errorf("queue leader: %w", err)
	}
	return n > 0, nil
}
