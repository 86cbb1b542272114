package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// A round requested with RequestRound must start after the request, and
// a round is an exclusive job: queuing one while the same job waits,
// retries or runs does nothing. While it waits that is what the request
// wants (the waiting round starts later), but while it runs the round may
// already have read what the request was about, and the request would
// have to wait for the next interval. So a requested round's key names
// how many rounds of its kind had started when it was asked for, and
// every round counts itself as it starts, before its handler reads
// anything:
//
//   - requests made before the next round starts share one key, hence one
//     waiting job;
//   - a request made once a round started reads the new count, so its key
//     differs from that running round's and its round is queued;
//   - a request that read the count just before a round counted itself
//     may be merged into that round, which is fine: the round's handler
//     runs after the count, so after the request.
//
// The count is the version of the round document of the kind.
const (
	docRound       = "round"
	roundRefPrefix = "requested-after-"
)

// RequestRound queues a round of the periodic kind (see Every) that
// starts after this call, whether or not one runs at the moment: an
// operator or a change that wants the round's work done now. Requests
// made before that round starts share it; the periodic schedule is
// unchanged. The kind's handler sees an ordinary job of kind (its Ref
// names the request, and is not the handler's to read).
func (s *Service) RequestRound(ctx context.Context, kind JobKind) error {
	return s.store.Update(ctx, func(tx Tx) error {
		started := 0
		d, err := tx.Document(ctx, docRound, string(kind))
		switch {
		case err == nil:
			started = d.Version
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("request %s round: %w", kind, err)
		}
		if err := tx.Enqueue(ctx, Job{Kind: kind, Ref: roundRefPrefix + strconv.Itoa(started), Exclusive: true}); err != nil {
			return fmt.Errorf("request %s round: %w", kind, err)
		}
		return nil
	})
}

// isRound reports whether j is a round: a job of a kind scheduled with
// Every here, or one queued by RequestRound.
func (s *Service) isRound(j Job) bool {
	if strings.HasPrefix(j.Ref, roundRefPrefix) {
		return true
	}
	s.hooks.mu.RLock()
	defer s.hooks.mu.RUnlock()
	for _, p := range s.hooks.periodic {
		if p.Kind == j.Kind {
			return true
		}
	}
	return false
}

// roundStarted counts a round of kind as started (see RequestRound).
// Rounds of one kind starting together on two nodes both count: the
// loser of the race reads the count again.
func (s *Service) roundStarted(ctx context.Context, kind JobKind) error {
	var err error
	for range 5 {
		err = s.store.Update(ctx, func(tx Tx) error {
			version := 1
			d, err := tx.Document(ctx, docRound, string(kind))
			switch {
			case err == nil:
				version = d.Version + 1
			case !errors.Is(err, ErrNotFound):
				return err
			}
			now := s.clock.Now()
			return tx.PutDocument(ctx, Document{Kind: docRound, ID: string(kind), Version: version, Updated: now, Body: []byte("{}")})
		})
		if !errors.Is(err, ErrConflict) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s round: count its start: %w", kind, err)
	}
	return nil
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
