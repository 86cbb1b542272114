package gateway

import (
	"context"
	"encoding/json"
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
// Either way every round numbered above the count a request read started
// after the request. The count, with the newest round's start and what
// it queued, is the round document of the kind (roundDoc); documents
// written before it kept the count as the document's version.
const (
	docRound       = "round"
	roundRefPrefix = "requested-after-"
)

// roundDoc is the body of a kind's round document.
type roundDoc struct {
	// Started counts the rounds of the kind started so far; the newest
	// is round number Started.
	Started   int       `json:"started"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	// Items is how many item jobs the newest round queued, set once it
	// has queued them all (Listed).
	Items    int       `json:"items,omitempty"`
	Listed   bool      `json:"listed,omitempty"`
	ListedAt time.Time `json:"listedAt,omitzero"`
}

// readRound reads the round document of kind (the zero roundDoc and
// version 0 when no round has started).
func readRound(ctx context.Context, tx Tx, kind JobKind) (roundDoc, int, error) {
	var rd roundDoc
	d, err := tx.Document(ctx, docRound, string(kind))
	switch {
	case errors.Is(err, ErrNotFound):
		return rd, 0, nil
	case err != nil:
		return rd, 0, err
	}
	if err := json.Unmarshal(d.Body, &rd); err != nil {
		return rd, 0, fmt.Errorf("round document %s: %w", kind, err)
	}
	if rd.Started == 0 { // written before the count moved into the body
		rd.Started = d.Version
		if rd.StartedAt.IsZero() {
			rd.StartedAt = d.Updated
		}
	}
	return rd, d.Version, nil
}

// writeRound stores rd over version of the round document of kind.
func (s *Service) writeRound(ctx context.Context, tx Tx, kind JobKind, rd roundDoc, version int) error {
	body, err := json.Marshal(rd)
	if err != nil {
		return err
	}
	return tx.PutDocument(ctx, Document{Kind: docRound, ID: string(kind), Version: version + 1, Updated: s.clock.Now(), Body: body})
}

// RequestRound queues a round of the periodic kind (see Every) that
// starts after this call, whether or not one runs at the moment: an
// operator or a change that wants the round's work done now. Requests
// made before that round starts share it; the periodic schedule is
// unchanged. The kind's handler sees an ordinary job of kind (its Ref
// names the request, and is not the handler's to read).
func (s *Service) RequestRound(ctx context.Context, kind JobKind) error {
	return s.store.Update(ctx, func(tx Tx) error {
		_, err := requestRound(ctx, tx, kind)
		return err
	})
}

// requestRound is RequestRound inside tx. It returns how many rounds of
// kind had started: every round numbered above it starts after tx.
func requestRound(ctx context.Context, tx Tx, kind JobKind) (int, error) {
	rd, _, err := readRound(ctx, tx, kind)
	if err != nil {
		return 0, fmt.Errorf("request %s round: %w", kind, err)
	}
	if err := tx.Enqueue(ctx, Job{Kind: kind, Ref: roundRefPrefix + strconv.Itoa(rd.Started), Exclusive: true}); err != nil {
		return 0, fmt.Errorf("request %s round: %w", kind, err)
	}
	return rd.Started, nil
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

// roundKey carries a running round's number in its handler's context.
type roundKey struct{}

// roundNumber is the number of the round whose handler runs with ctx (0:
// not a round).
func roundNumber(ctx context.Context) int {
	n, _ := ctx.Value(roundKey{}).(int)
	return n
}

// roundStarted counts a round of kind as started (see RequestRound) and
// returns ctx carrying its number. Rounds of one kind starting together
// on two nodes both count: the loser of the race reads the count again.
func (s *Service) roundStarted(ctx context.Context, kind JobKind) (context.Context, error) {
	var (
		err error
		n   int
	)
	for range 5 {
		err = s.store.Update(ctx, func(tx Tx) error {
			rd, version, err := readRound(ctx, tx, kind)
			if err != nil {
				return err
			}
			n = rd.Started + 1
			return s.writeRound(ctx, tx, kind, roundDoc{Started: n, StartedAt: s.clock.Now()}, version)
		})
		if !errors.Is(err, ErrConflict) {
			break
		}
	}
	if err != nil {
		return ctx, fmt.Errorf("%s round: count its start: %w", kind, err)
	}
	return context.WithValue(ctx, roundKey{}, n), nil
}

// roundListed records that the round running with ctx has queued all its
// items jobs, unless a newer round of kind has started since (its own
// listing is what counts then).
func (s *Service) roundListed(ctx context.Context, kind JobKind, items int) error {
	n := roundNumber(ctx)
	if n == 0 {
		return nil // run outside a round (a test calling the handler)
	}
	var err error
	for range 5 {
		err = s.store.Update(ctx, func(tx Tx) error {
			rd, version, err := readRound(ctx, tx, kind)
			if err != nil || rd.Started != n {
				return err
			}
			rd.Items, rd.Listed, rd.ListedAt = items, true, s.clock.Now()
			return s.writeRound(ctx, tx, kind, rd, version)
		})
		if !errors.Is(err, ErrConflict) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s round %d: record its %d items: %w", kind, n, items, err)
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
