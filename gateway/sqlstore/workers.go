package sqlstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
)

// WorkerPool runs the River client that works jobs for one backend; the
// backends embed it to provide Backend.StartWorkers and StopWorkers.
type WorkerPool[TTx any] struct {
	driver riverdriver.Driver[TTx]
	mu     sync.Mutex
	client *river.Client[TTx]
}

// NewWorkerPool makes a pool for a River driver.
func NewWorkerPool[TTx any](driver riverdriver.Driver[TTx]) *WorkerPool[TTx] {
	return &WorkerPool[TTx]{driver: driver}
}

// StartWorkers creates the working River client and starts it.
func (p *WorkerPool[TTx]) StartWorkers(ctx context.Context, workers *river.Workers, cfg QueueConfig) error {
	c, err := river.NewClient(p.driver, RiverConfig(workers, cfg))
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
