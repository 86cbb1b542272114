package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
)

// WorkerPool runs the River client that works jobs for one backend; the
// backends embed it to provide Backend.StartWorkers and StopWorkers.
type WorkerPool[TTx any] struct {
	driver  riverdriver.Driver[TTx]
	dialect Dialect
	mu      sync.Mutex
	client  *river.Client[TTx]
}

// NewWorkerPool makes a pool for a River driver on a database of dialect d.
func NewWorkerPool[TTx any](driver riverdriver.Driver[TTx], d Dialect) *WorkerPool[TTx] {
	return &WorkerPool[TTx]{driver: driver, dialect: d}
}

// StartWorkers creates the working River client and starts it. Running
// jobs send heartbeats, and the leader rescues jobs whose heartbeats
// stopped (a crashed process) after cfg.RescueAfter. The leader also
// enqueues the periodic jobs.
func (p *WorkerPool[TTx]) StartWorkers(ctx context.Context, workers *river.Workers, cfg QueueConfig, periodic []*river.PeriodicJob) error {
	cfg = cfg.withDefaults()
	if err := river.AddWorkerSafely(workers, &rescueWorker[TTx]{driver: p.driver, after: cfg.RescueAfter}); err != nil {
		return err
	}
	rc := RiverConfig(workers, cfg)
	rc.PeriodicJobs = append(rc.PeriodicJobs, rescuePeriodic(cfg.RescueEvery))
	rc.PeriodicJobs = append(rc.PeriodicJobs, periodic...)
	rc.Middleware = append(rc.Middleware, &heartbeat[TTx]{driver: p.driver, sql: p.dialect.Rebind(heartbeatSQL(p.dialect)),
		interval: max(cfg.RescueAfter/4, 10*time.Millisecond)})
	c, err := river.NewClient(p.driver, rc)
	if err != nil {
		return fmt.Errorf("river workers: %w", err)
	}
	p.mu.Lock()
	p.client = c
	p.mu.Unlock()
	return c.Start(ctx)
}

// StopWorkers stops taking jobs and waits for running ones until ctx ends;
// then it cancels them, and River retries them later.
func (p *WorkerPool[TTx]) StopWorkers(ctx context.Context) error {
	p.mu.Lock()
	c := p.client
	p.client = nil
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	if err := c.Stop(ctx); err != nil {
		return c.StopAndCancel(context.WithoutCancel(ctx))
	}
	return nil
}
