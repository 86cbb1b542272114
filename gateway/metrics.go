package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/referralgw/gateway/audit"
)

// Metrics is told what the core did, once it is durable. The core calls it
// only after the transaction that did the work commits, so a rolled-back
// or retried transaction is never counted. Implementations (the Prometheus
// exporter in cmd/gateway) must be safe for concurrent use and quick: they
// run on the request path. Set it in Config.Metrics; nil counts nothing.
type Metrics interface {
	// Committed is one audit event that has committed: every delivery
	// outcome, refusal, receipt and inbound message is one.
	Committed(ev audit.Event)
	// ReceiptTime is how long after its send a delivery's receipt came.
	ReceiptTime(channel ChannelKind, after time.Duration)
	// JobDone is one run of a queued job: how long it waited past its
	// scheduled time, how long it ran, and its outcome ("ok", "retry",
	// "snooze").
	JobDone(kind JobKind, waited, ran time.Duration, outcome string)
}

// observedStore is the Store the core writes through when Metrics is set:
// it holds back what each transaction observed and reports it only when
// Update returns without error (the transaction committed).
type observedStore struct {
	Store
	m Metrics
}

// Update implements Store.
func (o observedStore) Update(ctx context.Context, fn func(Tx) error) error {
	var after []func(Metrics)
	err := o.Store.Update(ctx, func(tx Tx) error {
		after = after[:0] // a store may run fn again after a serialization failure
		return fn(&observedTx{Tx: tx, after: &after})
	})
	if err == nil {
		for _, f := range after {
			f(o.m)
		}
	}
	return err
}

// observedTx is a Tx that notes the audit events written through it.
type observedTx struct {
	Tx
	after *[]func(Metrics)
}

// Unwrap returns the Tx observedTx wraps (see asTx).
func (t *observedTx) Unwrap() Tx { return t.Tx }

// Audit implements Tx.
func (t *observedTx) Audit(ctx context.Context, ev audit.Event) error {
	if err := t.Tx.Audit(ctx, ev); err != nil {
		return err
	}
	*t.after = append(*t.after, func(m Metrics) { m.Committed(ev) })
	return nil
}

// afterCommit runs f with the service's Metrics once tx commits; it does
// nothing when no Metrics is set.
func afterCommit(tx Tx, f func(Metrics)) {
	if o, ok := asTx[*observedTx](tx); ok {
		*o.after = append(*o.after, f)
	}
}

// noteReceiptTime reports the time from d's send to its receipt at
// receivedAt. A receipt that arrived before the send was recorded (a fast
// fax callback) counts as zero; a delivery whose send is not recorded yet
// is reported when the send is.
func noteReceiptTime(tx Tx, d *Delivery, receivedAt time.Time) {
	if d.SentAt.IsZero() {
		return
	}
	ch, after := d.Channel, max(receivedAt.Sub(d.SentAt), 0)
	afterCommit(tx, func(m Metrics) { m.ReceiptTime(ch, after) })
}

// jobOutcome names a job run's result for JobDone.
func jobOutcome(err error) string {
	var snooze *SnoozeError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &snooze):
		return "snooze"
	}
	return "retry"
}
