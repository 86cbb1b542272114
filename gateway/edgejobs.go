package gateway

import (
	"context"
	"sync"
)

// JobNotifySubscription delivers the notifications of one FHIR
// subscription (Ref is "<subscription id>/<referral id>/<version>", or
// "<subscription id>/" for its handshake). The core queues and runs it;
// the FHIR edge handles it (see HandleJobKind).
const JobNotifySubscription JobKind = "notify-subscription"

// VersionHook runs inside the transaction that stores a new referral
// version, after the version is written, so that what it queues commits
// with the version (the outbox). An error rolls the transaction back.
type VersionHook func(ctx context.Context, tx Tx, r *Referral) error

// edgeHooks are what edges registered with the core: hooks on new
// referral versions and handlers of the job kinds they own. The Service
// and its hookedStore share one by pointer.
type edgeHooks struct {
	mu       sync.RWMutex
	versions []VersionHook
	jobs     map[JobKind]JobHandler
	periodic []Periodic // see Every
}

// OnVersion registers a hook run for every referral version stored from
// now on.
func (s *Service) OnVersion(h VersionHook) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.versions = append(s.hooks.versions, h)
}

// HandleJobKind routes queued jobs of kind to h: an edge runs its own
// durable work on the core's queue.
func (s *Service) HandleJobKind(kind JobKind, h JobHandler) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if s.hooks.jobs == nil {
		s.hooks.jobs = map[JobKind]JobHandler{}
	}
	s.hooks.jobs[kind] = h
}

func (s *Service) jobHandler(kind JobKind) JobHandler {
	s.hooks.mu.RLock()
	defer s.hooks.mu.RUnlock()
	return s.hooks.jobs[kind]
}

// hookedStore runs the version hooks in the transactions that store
// referral versions. It wraps the store innermost, so that wrappers
// outside it (metrics) still see their own Tx.
type hookedStore struct {
	Store
	hooks *edgeHooks
}

// Update implements Store.
func (h hookedStore) Update(ctx context.Context, fn func(Tx) error) error {
	h.hooks.mu.RLock()
	hooks := h.hooks.versions
	h.hooks.mu.RUnlock()
	if len(hooks) == 0 {
		return h.Store.Update(ctx, fn)
	}
	return h.Store.Update(ctx, func(tx Tx) error { return fn(hookedTx{Tx: tx, hooks: hooks}) })
}

// hookedTx is a Tx that runs the hooks after each referral version.
type hookedTx struct {
	Tx
	hooks []VersionHook
}

// InsertReferral implements Tx.
func (t hookedTx) InsertReferral(ctx context.Context, r *Referral) error {
	if err := t.Tx.InsertReferral(ctx, r); err != nil {
		return err
	}
	return t.run(ctx, r)
}

// UpdateReferral implements Tx.
func (t hookedTx) UpdateReferral(ctx context.Context, r *Referral) error {
	if err := t.Tx.UpdateReferral(ctx, r); err != nil {
		return err
	}
	return t.run(ctx, r)
}

// Unwrap returns the Tx hookedTx wraps (see asTx).
func (t hookedTx) Unwrap() Tx { return t.Tx }

func (t hookedTx) run(ctx context.Context, r *Referral) error {
	for _, h := range t.hooks {
		if err := h(ctx, t.Tx, r); err != nil {
			return err
		}
	}
	return nil
}
