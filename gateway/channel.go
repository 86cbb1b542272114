package gateway

import (
	"context"
	"time"
)

// Channel carries a referral to a receiving party on one protocol. The fhir,
// direct and fax packages implement it; the core never imports them.
type Channel interface {
	// Kind names the channel.
	Kind() ChannelKind
	// Reachable returns nil when the channel can reach the party now (it has
	// an endpoint, a usable certificate, a verified number), and an error
	// saying why not otherwise. It is asked at routing time and again at
	// send time, inside a transaction: it must not do network I/O. A
	// channel that needs a lookup it has not cached returns an error
	// wrapping ErrNotResolved and implements Resolver.
	Reachable(ctx context.Context, to *Entry) error
	// Send delivers the referral. It must be idempotent on
	// out.Delivery.ID: the same delivery may be sent again after a crash or
	// a timeout, and the receiver must be able to recognise the duplicate
	// (stable Message-ID, conditional create, vendor idempotency tag).
	// Errors are retried with backoff unless wrapped with Permanent.
	Send(ctx context.Context, out *Outbound) (SendResult, error)
}

// Outbound is everything a channel needs for one send. Records hold
// plaintext: channels must not log them.
type Outbound struct {
	Referral *Referral
	Delivery *Delivery
	Receiver *Entry
	Sender   *Entry // the referring practice's directory entry
	Records  []RecordContent
	// Order is the requester's order as sent (Referral.Order), opened;
	// nil when the referral has none.
	Order []byte
}

// RecordContent is a record with its decrypted content.
type RecordContent struct {
	Record
	Content []byte
}

// SendResult is what a channel reports after a successful send.
type SendResult struct {
	// RemoteID is the channel's handle used to correlate receipts: the
	// Direct Message-ID, the receiver's Task id, the fax vendor's id.
	RemoteID string
	// Delivered is true when the send itself proves delivery (a FHIR
	// server that answered with the received Task).
	Delivered bool
	// AwaitReceipt is how long to wait for a receipt before the delivery
	// fails; zero when Delivered or no receipt is expected.
	AwaitReceipt time.Duration
	// Detail is metadata for the trail (e.g. "250 2.0.0 queued as X").
	Detail string
}

// Clock tells the time; tests inject a manual one so that deadlines and
// expiry are tested without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns the current UTC time.
func (SystemClock) Now() time.Time { return time.Now().UTC() }
