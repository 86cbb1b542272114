package gateway

import (
	"context"
	"fmt"
	"time"
)

// Periodic is work the queue runs every Every. The stores schedule it on
// the queue's elected leader only, so with several nodes on one database
// each round is queued once, not once per node; a round still waiting or
// running when the next is due is not queued again.
type Periodic struct {
	Kind  JobKind
	Every time.Duration
}

// PeriodicSource is a JobHandler that also names periodic work; the
// stores' StartWorkers schedule what PeriodicJobs returns. Service is one.
type PeriodicSource interface {
	PeriodicJobs() []Periodic
}

// JobSweepExpired deletes expired edge records (used assertion ids, idle
// sessions, callback replay records): the core handles it, `gateway serve`
// schedules it with Every.
const JobSweepExpired JobKind = "sweep-expired"

// Every schedules a job of kind every interval, from the next StartWorkers
// on. The kind must be one the core handles or an edge registered with
// HandleJobKind. Registering a kind again replaces its interval.
func (s *Service) Every(kind JobKind, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("periodic %s: interval %s must be positive", kind, every)
	}
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	for i, p := range s.hooks.periodic {
		if p.Kind == kind {
			s.hooks.periodic[i].Every = every
			return nil
		}
	}
	s.hooks.periodic = append(s.hooks.periodic, Periodic{Kind: kind, Every: every})
	return nil
}

// PeriodicJobs implements PeriodicSource.
func (s *Service) PeriodicJobs() []Periodic {
	s.hooks.mu.RLock()
	defer s.hooks.mu.RUnlock()
	return append([]Periodic(nil), s.hooks.periodic...)
}

// EnqueueJobs queues jobs in one transaction (an edge's periodic round
// fanning out its per-item jobs). Jobs marked Exclusive that already wait
// or run are not queued twice.
func (s *Service) EnqueueJobs(ctx context.Context, jobs ...Job) error {
	if len(jobs) == 0 {
		return nil
	}
	return s.store.Update(ctx, func(tx Tx) error {
		for _, j := range jobs {
			if err := tx.Enqueue(ctx, j); err != nil {
				return fmt.Errorf("enqueue %s %s: %w", j.Kind, j.Ref, err)
			}
		}
		return nil
	})
}

// sweepJob runs one sweep of expired edge records as a queued job.
func (s *Service) sweepJob(ctx context.Context) error {
	n, err := s.SweepExpired(ctx)
	if err != nil {
		return fmt.Errorf("sweep expired: %w", err)
	}
	if n > 0 {
		s.log.InfoContext(ctx, "swept expired documents", "count", n)
	}
	return nil
}
