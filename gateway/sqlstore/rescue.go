package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// rescueArgs is the periodic job that puts back to work the jobs a crashed
// process left running. River's own rescuer does the same, but only every
// 30 seconds and after RescueAfter; this one runs every RescueEvery on the
// elected leader (and once as soon as a node becomes leader), so work in
// flight at a crash resumes within RescueAfter + RescueEvery of it, or of
// the restart when the crash is older.
type rescueArgs struct{}

// Kind implements river.JobArgs.
func (rescueArgs) Kind() string { return "rescue_stuck" }

// rescueWorker moves running jobs whose attempt started before the horizon
// back to available. Every job runs under JobTimeout, which is shorter
// than RescueAfter, so a job past the horizon has no live worker left; the
// jobs themselves are idempotent, so a rescue that races a late finish
// costs a no-op run.
type rescueWorker[TTx any] struct {
	river.WorkerDefaults[rescueArgs]
	driver riverdriver.Driver[TTx]
	after  time.Duration
}

// Work implements river.Worker.
func (w *rescueWorker[TTx]) Work(ctx context.Context, job *river.Job[rescueArgs]) error {
	_, err := RescueStuck(ctx, w.driver.GetExecutor(), w.after)
	return err
}

// RescueStuck makes every job that has been running for longer than after
// available again now and says how many it moved.
func RescueStuck(ctx context.Context, exec riverdriver.Executor, after time.Duration) (int, error) {
	horizon := time.Now().Add(-after)
	stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{Max: 1000, StuckHorizon: horizon})
	if err != nil {
		return 0, fmt.Errorf("rescue: stuck jobs: %w", err)
	}
	if len(stuck) == 0 {
		return 0, nil
	}
	now := time.Now().UTC()
	p := &riverdriver.JobRescueManyParams{StuckHorizon: horizon}
	for _, j := range stuck {
		// A rescue job a crashed leader left running is rescued like any
		// other (running it again is harmless); this one's own stamp is
		// fresh, so it never finds itself.
		msg, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.Attempt, 0), Error: "rescued: its worker stopped (process crash)"})
		if err != nil {
			return 0, err
		}
		p.ID = append(p.ID, j.ID)
		p.Error = append(p.Error, msg)
		p.FinalizedAt = append(p.FinalizedAt, nil)
		p.ScheduledAt = append(p.ScheduledAt, now)
		p.State = append(p.State, string(rivertype.JobStateAvailable))
	}
	if len(p.ID) == 0 {
		return 0, nil
	}
	if _, err := exec.JobRescueMany(ctx, p); err != nil {
		return 0, fmt.Errorf("rescue: %w", err)
	}
	return len(p.ID), nil
}

// rescuePeriodic schedules the rescue job. It is deliberately not a
// unique job: River's unique jobs must count running ones, so a rescue job
// left running by a leader killed mid-sweep would keep every later one out
// until River's own rescuer (JobTimeout + 30 s) and so stall the recovery
// of everything else that crash left running. Only the leader inserts it,
// once per interval, and a sweep is idempotent.
func rescuePeriodic(every time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			return rescueArgs{}, &river.InsertOpts{MaxAttempts: 1}
		}, &river.PeriodicJobOpts{RunOnStart: true})
}

// heartbeat is River worker middleware that, while a job runs, stamps its
// row's attempted_at every interval. The rescue job takes a running job
// whose stamp is older than RescueAfter for one whose process died, so
// RescueAfter can stay short while a send may take minutes (SMTP allows
// ten for the end of DATA).
type heartbeat[TTx any] struct {
	river.MiddlewareDefaults
	driver   riverdriver.Driver[TTx]
	sql      string
	interval time.Duration
}

// Work implements rivertype.WorkerMiddleware.
func (h *heartbeat[TTx]) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(h.interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				// A missed beat only risks a rescue, and the jobs are idempotent.
				_ = h.driver.GetExecutor().Exec(context.WithoutCancel(ctx), h.sql, job.ID)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	return doInner(ctx)
}

// heartbeatSQL stamps a running job as alive, per dialect (River's SQLite
// driver keeps times as text in SQLite's own format).
func heartbeatSQL(d Dialect) string {
	if d.Name == "sqlite" {
		return `UPDATE river_job SET attempted_at = datetime('now', 'subsec') WHERE id = $1 AND state = 'running'`
	}
	return `UPDATE river_job SET attempted_at = now() WHERE id = $1 AND state = 'running'`
}
