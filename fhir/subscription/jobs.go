package subscription

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// errBusy reports that another job holds the subscription's lease.
var errBusy = errors.New("subscription: served by another job")

// Register puts the notifier on the core's queue: every new Task version
// queues one job per matching subscription (in the transaction that
// stores the version), and the core hands those jobs to the notifier.
// A failing endpoint's job waits out the subscription's backoff and runs
// again; a job that finds its version already sent does nothing.
func (n *Notifier) Register() {
	n.svc.OnVersion(func(ctx context.Context, tx gateway.Tx, r *gateway.Referral) error { return n.queueVersion(ctx, tx, r) })
	n.svc.HandleJobKind(gateway.JobNotifySubscription, n)
}

// queueVersion queues the notification of version r for every active or
// requested subscription it matches.
func (n *Notifier) queueVersion(ctx context.Context, tx gateway.DocumentTx, r *gateway.Referral) error {
	subs, err := loadAll(ctx, tx, n.cfg.Clock())
	if err != nil {
		return fmt.Errorf("subscription: queue %s v%d: %w", r.ID, r.Version, err)
	}
	for _, s := range subs {
		if (s.Status != StatusActive && s.Status != StatusRequested) || !matches(s, r) {
			continue
		}
		ref := s.ID + "/" + r.ID + "/" + strconv.Itoa(r.Version)
		if err := tx.Enqueue(ctx, gateway.Job{Kind: gateway.JobNotifySubscription, Ref: ref}); err != nil {
			return fmt.Errorf("subscription: queue %s: %w", ref, err)
		}
	}
	return nil
}

// queueServe queues a run for a subscription that was created or changed:
// its handshake, or the versions it missed while in error.
func queueServe(ctx context.Context, tx gateway.DocumentTx, s *Subscription) error {
	if s.Status != StatusRequested && s.Status != StatusActive {
		return nil
	}
	return tx.Enqueue(ctx, gateway.Job{Kind: gateway.JobNotifySubscription, Ref: s.ID + "/" + strconv.Itoa(s.Version)})
}

// HandleJob implements gateway.JobHandler for JobNotifySubscription: it
// sends what the subscription has not had yet, in order (the job's own
// version among them), or asks to run again after the backoff of a
// failing endpoint.
func (n *Notifier) HandleJob(ctx context.Context, j gateway.Job, _ gateway.JobMeta) error {
	subID, rest, _ := strings.Cut(j.Ref, "/")
	refID, ver, versioned := strings.Cut(rest, "/")
	version, _ := strconv.Atoi(ver)
	done := func() (bool, *Subscription, *State, error) {
		var s *Subscription
		var st *State
		err := n.svc.ViewDocuments(ctx, func(tx gateway.DocumentTx) error {
			var err error
			if s, err = load(ctx, tx, subID); err != nil {
				return err
			}
			st, err = loadState(ctx, tx, subID, s.Updated)
			return err
		})
		if errors.Is(err, gateway.ErrNotFound) {
			return true, nil, nil, nil // deleted
		}
		if err != nil {
			return false, nil, nil, err
		}
		if s.Status != StatusRequested && s.Status != StatusActive {
			return true, s, st, nil // off or in error: resuming queues a new run
		}
		if versioned && st.Sent[refID].Version >= version {
			return true, s, st, nil
		}
		if !versioned && s.Status == StatusActive {
			return true, s, st, nil // the handshake is done
		}
		return false, s, st, nil
	}
	finished, s, st, err := done()
	if err != nil || finished {
		return err
	}
	if !s.End.IsZero() && !n.cfg.Clock().Before(s.End) {
		return n.end(ctx, s)
	}
	if wait := st.NextAttempt.Sub(n.cfg.Clock()); wait > 0 {
		return &gateway.SnoozeError{Delay: wait}
	}
	if err := n.serve(ctx, s); errors.Is(err, errBusy) {
		return &gateway.SnoozeError{Delay: time.Second}
	} else if err != nil {
		return err
	}
	if finished, _, st, err = done(); err != nil || finished {
		return err
	}
	if wait := st.NextAttempt.Sub(n.cfg.Clock()); wait > 0 {
		return &gateway.SnoozeError{Delay: wait} // the endpoint failed: back off
	}
	// Not sent although the endpoint answered: a larger backlog than one
	// run sends. The versions still pending have jobs of their own, and
	// each run sends the oldest first.
	return nil
}
