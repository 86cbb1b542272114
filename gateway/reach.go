package gateway

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotResolved is what a channel's Reachable wraps when its answer needs
// a lookup over the network (a DNS certificate, a revocation list) that it
// has not cached. Reachable runs inside transactions and must not wait on
// the network; the core then rolls the transaction back, calls the
// channel's Resolve outside it, and runs the transaction again.
var ErrNotResolved = errors.New("reachability not resolved yet")

// Resolver is a Channel whose reachability depends on network lookups. The
// core calls Resolve outside any transaction; it does the lookups for the
// party and caches their outcome, failures included, so that the next
// Reachable answers from the cache.
type Resolver interface {
	Resolve(ctx context.Context, to *Entry) error
}

// resolveNeeded aborts a transaction whose routing met ErrNotResolved.
type resolveNeeded struct {
	kind ChannelKind
	ch   Resolver
	to   *Entry
}

func (e *resolveNeeded) Error() string {
	return fmt.Sprintf("%s: reachability of %s needs a lookup outside the transaction", e.kind, e.to.ID)
}

// maxResolveRounds bounds how often one operation rolls back to resolve.
// A channel caches what Resolve found, failures included, so the second
// round normally answers; more rounds mean the cache forgot at once.
const maxResolveRounds = 3

// update runs fn in a read-write transaction. When routing inside it needs
// a network lookup, the transaction is rolled back, the lookup runs with no
// transaction open, and fn runs again; so no transaction, and on the
// embedded store's single connection no other transaction, waits on DNS.
func (s *Service) update(ctx context.Context, fn func(Tx) error) error {
	for round := 1; ; round++ {
		err := s.store.Update(ctx, fn)
		var rn *resolveNeeded
		if !errors.As(err, &rn) || round == maxResolveRounds {
			return err
		}
		if rerr := rn.ch.Resolve(ctx, rn.to); rerr != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: resolve %s: %w", rn.kind, rn.to.ID, ctx.Err())
			}
			s.log.InfoContext(ctx, "reachability lookup failed", "channel", rn.kind, "entry", rn.to.ID, "err", rerr)
		}
	}
}

// reachable asks ch whether it can reach to now, inside a transaction. It
// returns the reason it cannot (nil when it can), or a *resolveNeeded
// error that makes update resolve outside the transaction and retry.
func reachable(ctx context.Context, kind ChannelKind, ch Channel, to *Entry) (reason error, abort error) {
	err := ch.Reachable(ctx, to)
	if err == nil || !errors.Is(err, ErrNotResolved) {
		return err, nil
	}
	r, ok := ch.(Resolver)
	if !ok {
		return err, nil
	}
	return nil, &resolveNeeded{kind: kind, ch: r, to: to}
}

// isRoutingError tells route's refusal from its hard errors.
func isRoutingError(err error) bool {
	var re *RoutingError
	return errors.As(err, &re)
}
