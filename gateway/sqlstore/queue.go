package sqlstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/internal/retryafter"
)

// deliverArgs is the River job that sends one delivery.
type deliverArgs struct {
	DeliveryID string `json:"delivery_id"`
	Practice   string `json:"practice,omitempty"`
}

// Kind implements river.JobArgs.
func (deliverArgs) Kind() string { return "deliver" }

// deadlineArgs is the River job that checks a delivery's receipt deadline.
type deadlineArgs struct {
	DeliveryID string `json:"delivery_id"`
	Due        int64  `json:"due"` // unix seconds; part of the args so a moved deadline is a new job
	Practice   string `json:"practice,omitempty"`
}

// Kind implements river.JobArgs.
func (deadlineArgs) Kind() string { return "receipt_deadline" }

// pollArgs is the River job that asks a channel for a sent delivery's
// receipt (a fax vendor's status call), in case its callback is lost.
type pollArgs struct {
	DeliveryID string `json:"delivery_id"`
	Practice   string `json:"practice,omitempty"`
}

// Kind implements river.JobArgs.
func (pollArgs) Kind() string { return "poll_receipt" }

type pollWorker struct{ worker[pollArgs] }

// Work implements river.Worker.
func (w *pollWorker) Work(ctx context.Context, job *river.Job[pollArgs]) error {
	return w.run.job(ctx, gateway.Job{Kind: gateway.JobPollReceipt, DeliveryID: job.Args.DeliveryID, Practice: job.Args.Practice}, job.JobRow)
}

// inboundArgs is the River job that processes one received message.
type inboundArgs struct {
	InboundID string `json:"inbound_id"`
}

// Kind implements river.JobArgs.
func (inboundArgs) Kind() string { return "inbound" }

// noticeArgs is the River job that sends one notice about a received message.
type noticeArgs struct {
	NoticeID string `json:"notice_id"`
}

// Kind implements river.JobArgs.
func (noticeArgs) Kind() string { return "notice" }

type inboundWorker struct{ worker[inboundArgs] }

// Work implements river.Worker.
func (w *inboundWorker) Work(ctx context.Context, job *river.Job[inboundArgs]) error {
	return w.run.job(ctx, gateway.Job{Kind: gateway.JobInbound, Ref: job.Args.InboundID}, job.JobRow)
}

type noticeWorker struct{ worker[noticeArgs] }

// Work implements river.Worker.
func (w *noticeWorker) Work(ctx context.Context, job *river.Job[noticeArgs]) error {
	return w.run.job(ctx, gateway.Job{Kind: gateway.JobNotice, Ref: job.Args.NoticeID}, job.JobRow)
}

// edgeArgs is the River job of a kind an edge handles (see
// gateway.Service.HandleJobKind).
type edgeArgs struct {
	JobKind string `json:"kind"`
	Ref     string `json:"ref"`
}

// Kind implements river.JobArgs.
func (edgeArgs) Kind() string { return "edge" }

type edgeWorker struct{ worker[edgeArgs] }

// Work implements river.Worker.
func (w *edgeWorker) Work(ctx context.Context, job *river.Job[edgeArgs]) error {
	return w.run.job(ctx, gateway.Job{Kind: gateway.JobKind(job.Args.JobKind), Ref: job.Args.Ref}, job.JobRow)
}

type deliverWorker struct{ worker[deliverArgs] }

// Work implements river.Worker.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	return w.run.job(ctx, gateway.Job{Kind: gateway.JobDeliver, DeliveryID: job.Args.DeliveryID, Practice: job.Args.Practice}, job.JobRow)
}

type deadlineWorker struct{ worker[deadlineArgs] }

// Work implements river.Worker.
func (w *deadlineWorker) Work(ctx context.Context, job *river.Job[deadlineArgs]) error {
	return w.run.job(ctx, gateway.Job{Kind: gateway.JobReceiptDeadline, DeliveryID: job.Args.DeliveryID, Practice: job.Args.Practice}, job.JobRow)
}

// worker is what the job workers share: the runner, and a NextRetry that
// honours a Retry-After.
type worker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	run *jobRunner
}

// NextRetry implements river.Worker. River asks it, right after a failed
// run, before the client's RetryPolicy; the zero time defers to that.
func (w worker[T]) NextRetry(job *river.Job[T]) time.Time { return w.run.nextRetry(job.JobRow) }

// jobRunner runs River jobs through the core's handler. When a run fails
// with a *gateway.RetryAfterError (the far side said how long to wait),
// it keeps the earliest time of the job's next attempt until River, in
// the same goroutine right after the run, asks the worker's NextRetry,
// which then answers the later of that time and the policy's. The failure
// stays an ordinary error, so River counts the attempt and MaxAttempts
// still ends a job whose server always asks to wait (River's JobSnooze
// would not count it). Nothing is kept for a last attempt (River discards
// the job without asking), and a run clears what an earlier run of its
// job left.
type jobRunner struct {
	h      gateway.JobHandler
	policy RetryPolicy

	mu     sync.Mutex
	floors map[int64]time.Time // job id → earliest next attempt
}

func newJobRunner(h gateway.JobHandler, q QueueConfig) *jobRunner {
	return &jobRunner{h: h, policy: RetryPolicy{Base: q.RetryBase, Max: q.RetryMax}, floors: map[int64]time.Time{}}
}

// job runs one job and maps the handler's answer onto River's.
func (r *jobRunner) job(ctx context.Context, j gateway.Job, row *rivertype.JobRow) error {
	r.takeFloor(row.ID) // a run whose retry River never scheduled here (a stop) left it
	ctx, span := startJobSpan(ctx, string(j.Kind), row)
	defer span.End()
	err := r.h.HandleJob(ctx, j, gateway.JobMeta{Attempt: row.Attempt, MaxAttempts: row.MaxAttempts, ScheduledAt: row.ScheduledAt})
	if err != nil {
		span.RecordError(err)
	}
	var snooze *gateway.SnoozeError
	if errors.As(err, &snooze) {
		return river.JobSnooze(snooze.Delay)
	}
	if errors.Is(err, gateway.ErrNotFound) {
		return river.JobCancel(err) // the delivery is gone: retrying cannot help
	}
	if wait := gateway.RetryDelay(err); wait > 0 && row.Attempt < row.MaxAttempts && !errors.Is(err, context.Canceled) {
		r.mu.Lock()
		r.floors[row.ID] = time.Now().Add(min(wait, retryafter.Max))
		r.mu.Unlock()
	}
	return err
}

// nextRetry is the later of the policy's next retry and the floor a
// Retry-After left for the job, or zero when it left none.
func (r *jobRunner) nextRetry(row *rivertype.JobRow) time.Time {
	floor, ok := r.takeFloor(row.ID)
	if !ok {
		return time.Time{}
	}
	if next := r.policy.NextRetry(row); next.After(floor) {
		return next
	}
	return floor
}

// takeFloor removes and returns the floor kept for job id.
func (r *jobRunner) takeFloor(id int64) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	floor, ok := r.floors[id]
	delete(r.floors, id)
	return floor, ok
}

// jobArgs maps a core job to River args and insert options.
func jobArgs(j gateway.Job, q QueueConfig) (river.JobArgs, *river.InsertOpts) {
	opts := &river.InsertOpts{MaxAttempts: q.MaxAttempts}
	if !j.RunAt.IsZero() {
		opts.ScheduledAt = j.RunAt
	}
	switch j.Kind {
	case gateway.JobReceiptDeadline:
		return deadlineArgs{DeliveryID: j.DeliveryID, Due: j.RunAt.Unix(), Practice: j.Practice}, opts
	case gateway.JobInbound:
		// Not unique: a released message is processed again; the handler
		// does nothing for a message that is no longer waiting.
		return inboundArgs{InboundID: j.Ref}, opts
	case gateway.JobNotice:
		return noticeArgs{NoticeID: j.Ref}, opts
	case gateway.JobPollReceipt:
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true} // one poller per delivery
		return pollArgs{DeliveryID: j.DeliveryID, Practice: j.Practice}, opts
	case gateway.JobNotifySubscription:
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true} // one job per Task version and subscription
		return edgeArgs{JobKind: string(j.Kind), Ref: j.Ref}, opts
	case gateway.JobDeliver:
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true}
		return deliverArgs{DeliveryID: j.DeliveryID, Practice: j.Practice}, opts
	default: // the core's periodic kinds and the edges' own
		if j.Exclusive {
			opts.UniqueOpts = whileUnfinished
		}
		return edgeArgs{JobKind: string(j.Kind), Ref: j.Ref}, opts
	}
}

// whileUnfinished makes a job unique by its args among the jobs not yet
// finished: another can be queued once it completed, failed or was
// cancelled (River's default would also count completed ones).
var whileUnfinished = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
	rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}}

// periodicJobs maps the handler's periodic work to River periodic jobs.
// Each runs on the leader as soon as it is elected, then every interval;
// a round still unfinished when the next is due is not queued twice.
func periodicJobs(ps []gateway.Periodic, q QueueConfig) []*river.PeriodicJob {
	out := make([]*river.PeriodicJob, 0, len(ps))
	for _, p := range ps {
		args, opts := jobArgs(gateway.Job{Kind: p.Kind, Exclusive: true}, q)
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(p.Every),
			func() (river.JobArgs, *river.InsertOpts) { o := *opts; return args, &o },
			&river.PeriodicJobOpts{RunOnStart: true, ID: string(p.Kind)}))
	}
	return out
}

// RetryPolicy doubles the delay from RetryBase up to RetryMax. A failure
// that carries a Retry-After is scheduled no sooner than it asks (see
// jobRunner).
type RetryPolicy struct{ Base, Max time.Duration }

// NextRetry implements river.ClientRetryPolicy.
func (p RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := p.Base
	for i := 1; i < job.Attempt && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	return time.Now().Add(d)
}

// RiverConfig builds the River client configuration for workers.
func RiverConfig(workers *river.Workers, q QueueConfig) *river.Config {
	return &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: q.MaxWorkers}},
		Workers:           workers,
		FetchPollInterval: q.FetchPollInterval,
		FetchCooldown:     min(q.FetchPollInterval, 100*time.Millisecond),
		JobTimeout:        q.JobTimeout,
		// River's own rescuer is the last resort; the heartbeats and the
		// rescue job (rescue.go) bring back a crashed process's jobs sooner.
		RescueStuckJobsAfter: max(q.RescueAfter, q.JobTimeout+30*time.Second),
		RetryPolicy:          RetryPolicy{Base: q.RetryBase, Max: q.RetryMax},
		MaxAttempts:          q.MaxAttempts,
		Logger:               q.Logger,
	}
}
