package gateway

import (
	"context"
	"errors"
	"sync"
)

// Scope is whose rows a store transaction may see and change. On
// PostgreSQL the store sets it for each transaction (transaction-local
// settings read by the row-level security policies); the embedded store
// has no such policies and relies on the core's own checks. See
// docs/tenancy.md.
type Scope struct {
	// Practice is the acting practice: the transaction sees the rows of
	// that practice (and the referrals it shares with another one).
	Practice string
	// GatewayPath names the gateway-wide path the transaction runs on
	// (directory administration, resolving which practice a job or a
	// receipt belongs to, audit verification). Empty unless a named path
	// asked for it; such a transaction sees every practice's rows.
	GatewayPath string
}

// Empty reports whether neither a practice nor a gateway-wide path is set:
// on PostgreSQL such a transaction sees no practice rows at all.
func (sc Scope) Empty() bool { return sc.Practice == "" && sc.GatewayPath == "" }

type scopeKey struct{}

// WithPractice returns ctx acting for practice: store transactions run
// with ctx see only that practice's rows.
func WithPractice(ctx context.Context, practice string) context.Context {
	return context.WithValue(ctx, scopeKey{}, Scope{Practice: practice})
}

// GatewayWide returns ctx on the named gateway-wide path. Only the paths
// listed in docs/tenancy.md use it: each is narrow (one kind of work) and
// audited or free of PHI.
func GatewayWide(ctx context.Context, path string) context.Context {
	return context.WithValue(ctx, scopeKey{}, Scope{GatewayPath: path})
}

// ScopeFrom returns the scope ctx carries (the zero Scope when none).
func ScopeFrom(ctx context.Context) Scope {
	sc, _ := ctx.Value(scopeKey{}).(Scope)
	return sc
}

// The named gateway-wide paths the core itself takes.
const (
	// PathDirectory is directory and vendor administration.
	PathDirectory = "directory"
	// PathResolve finds which practice a referral, a delivery or a
	// receipt's remote id belongs to, so the work then runs as it.
	PathResolve = "resolve"
	// PathAudit reads and checkpoints every practice's audit chain
	// (verification, signed checkpoints); the trail holds no PHI.
	PathAudit = "audit"
	// PathInbound receives and processes inbound messages (Direct mail,
	// MDNs): which practice a message is for is known only once it is
	// matched; every step is audited in the trails it concerns.
	PathInbound = "inbound"
	// PathBAA changes a Business Associate Agreement on behalf of a
	// gateway-wide administrator (the gateway operator is the business
	// associate, a party to every BAA).
	PathBAA = "baa"
	// PathKeys is key management: rewrapping data keys under a new KEK
	// and sealing rows written before PHI was sealed at rest. It reads and
	// writes only sealed values and blind indexes, and is audited.
	PathKeys = "keys"
)

// Involves reports whether practice is the referral's requester or its
// receiver's practice: the two practices that see it.
func (r *Referral) Involves(practice string) bool {
	return practice != "" && (r.Requester.OrgID == practice || r.ReceiverOrgID == practice)
}

// owners remembers which practice a referral or delivery belongs to. The
// answer never changes (a referral's requester is fixed at creation, a
// delivery's referral too), so the cache cannot go stale; it is only
// bounded.
type owners struct {
	mu sync.Mutex
	m  map[string]string // "r:"+referral id or "d:"+delivery id → practice
}

const ownersMax = 100_000

func (o *owners) get(key string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.m[key]
}

func (o *owners) put(key, practice string) {
	if practice == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil || len(o.m) >= ownersMax {
		o.m = make(map[string]string)
	}
	o.m[key] = practice
}

// actAs returns ctx acting for practice unless ctx already carries a scope
// (an edge that authenticated a practice, or a named gateway-wide path).
func actAs(ctx context.Context, practice string) context.Context {
	if !ScopeFrom(ctx).Empty() || practice == "" {
		return ctx
	}
	return WithPractice(ctx, practice)
}

// forReferral returns ctx acting for whoever works on referral id: the
// scope ctx carries, else the actor's practice, else — for the gateway's
// own actors (the system, the command line) — the referral's requesting
// practice, found on the named path PathResolve.
func (s *Service) forReferral(ctx context.Context, actor Actor, id string) (context.Context, error) {
	if !ScopeFrom(ctx).Empty() {
		return ctx, nil
	}
	if actor.OrgID != "" {
		return WithPractice(ctx, actor.OrgID), nil
	}
	p, err := s.owner(ctx, "r:", id)
	if err != nil {
		return nil, err
	}
	return WithPractice(ctx, p), nil
}

// forDelivery is forReferral for work on a delivery (jobs, receipts).
func (s *Service) forDelivery(ctx context.Context, id string) (context.Context, error) {
	if !ScopeFrom(ctx).Empty() {
		return ctx, nil
	}
	p, err := s.owner(ctx, "d:", id)
	if err != nil {
		return nil, err
	}
	return WithPractice(ctx, p), nil
}

// owner finds the requesting practice of a referral ("r:") or of a
// delivery's referral ("d:") on the named path PathResolve. Only the
// practice id is read there; the work itself then runs as that practice.
func (s *Service) owner(ctx context.Context, kind, id string) (string, error) {
	if p := s.owners.get(kind + id); p != "" {
		return p, nil
	}
	var p string
	err := s.store.View(GatewayWide(ctx, PathResolve), func(tx Tx) error {
		var err error
		if kind == "d:" {
			p, err = tx.DeliveryPractice(ctx, id)
		} else {
			p, err = tx.ReferralPractice(ctx, id)
		}
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return "", ErrNotFound // the caller names the referral or delivery
	} else if err != nil {
		return "", err
	}
	s.owners.put(kind+id, p)
	return p, nil
}
