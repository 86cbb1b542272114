package subscription

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// errBusy reports that another job holds the subscription's lease.
var errBusy = errors.New("subscription: served by another job")

// Register puts the notifier on the core's queue: the core queues, in the
// transaction that stores each new Task version, one job per matching
// subscription, and one run for each created or changed subscription, and
// hands those jobs to the notifier. A failing endpoint's job waits out the
// subscription's backoff and runs again; a job that finds its version
// already sent does nothing.
func (n *Notifier) Register() {
	n.svc.ServeSubscriptions(n)
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
		c, err := n.svc.Subscription(ctx, subID)
		if errors.Is(err, gateway.ErrNotFound) {
			return true, nil, nil, nil // deleted
		}
		if err != nil {
			return false, nil, nil, err
		}
		s, st := fromCore(c), &c.Delivery
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
