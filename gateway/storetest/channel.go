package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// Behavior scripts how a RecordingChannel answers sends.
type Behavior struct {
	TempFailures int           // fail this many sends with a temporary error first
	RetryAfter   time.Duration // those failures ask to wait this long (a 429 with Retry-After)
	Permanent    bool          // fail every send permanently
	BlockFirst   bool          // the first send blocks until its context ends (a worker killed mid-send)
	Await        time.Duration // ask for a receipt within this long instead of delivering at once
	Unreachable  string        // Reachable returns this reason
	// Check and CheckReason are what CheckEndpoint answers (Check empty:
	// ok), as a real channel's own check of the party's endpoint would.
	Check       gateway.CheckStatus
	CheckReason string
	// CheckHold, when set, holds every CheckEndpoint until it is closed
	// (or the check's context ends): a round caught half-way.
	CheckHold chan struct{}
	// AfterSend, when set, runs after each successful send (before the
	// core records it): tests trip failures at that moment.
	AfterSend func(attempt int)
}

// RecordingChannel is a test channel that records what it was asked to
// send and de-duplicates on the idempotency key, as a real receiver does.
type RecordingChannel struct {
	kind gateway.ChannelKind

	mu        sync.Mutex
	behavior  Behavior
	attempts  map[string]int // delivery id → Send calls
	delivered map[string]int // delivery id → accepted sends (after de-duplication: 1)
	sent      map[string]Sent
	blocked   chan struct{}
}

// Sent is what the receiver got in one accepted delivery.
type Sent struct {
	Purpose   gateway.DeliveryPurpose
	RecordIDs []string
	Answer    string // the referrer's answer, for an answer delivery
}

// NewRecordingChannel makes a channel of kind with behavior b.
func NewRecordingChannel(kind gateway.ChannelKind, b Behavior) *RecordingChannel {
	return &RecordingChannel{kind: kind, behavior: b, attempts: map[string]int{}, delivered: map[string]int{},
		sent: map[string]Sent{}, blocked: make(chan struct{}, 1)}
}

// Kind implements gateway.Channel.
func (c *RecordingChannel) Kind() gateway.ChannelKind { return c.kind }

// SetBehavior changes the script.
func (c *RecordingChannel) SetBehavior(b Behavior) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.behavior = b
}

// Reachable implements gateway.Channel.
func (c *RecordingChannel) Reachable(ctx context.Context, to *gateway.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.behavior.Unreachable != "" {
		return errors.New(c.behavior.Unreachable)
	}
	return nil
}

// CheckEndpoint implements gateway.EndpointChecker with the behaviour's
// Check and CheckReason.
func (c *RecordingChannel) CheckEndpoint(ctx context.Context, to *gateway.Entry) (gateway.CheckStatus, string) {
	c.mu.Lock()
	b := c.behavior
	c.mu.Unlock()
	if b.CheckHold != nil {
		select {
		case <-b.CheckHold:
		case <-ctx.Done():
			return gateway.CheckUnknown, "check cancelled"
		}
	}
	if b.Check == "" {
		return gateway.CheckOK, "answered"
	}
	return b.Check, b.CheckReason
}

// Blocked is signalled when a BlockFirst send is waiting.
func (c *RecordingChannel) Blocked() <-chan struct{} { return c.blocked }

// Send implements gateway.Channel.
func (c *RecordingChannel) Send(ctx context.Context, out *gateway.Outbound) (gateway.SendResult, error) {
	c.mu.Lock()
	id := out.Delivery.ID
	c.attempts[id]++
	n := c.attempts[id]
	b := c.behavior
	c.mu.Unlock()
	if b.BlockFirst && n == 1 {
		c.blocked <- struct{}{}
		<-ctx.Done()
		return gateway.SendResult{}, fmt.Errorf("test channel: interrupted: %w", ctx.Err())
	}
	if b.Permanent {
		return gateway.SendResult{}, gateway.Permanent(errors.New("test channel: 550 permanent refusal"))
	}
	if n <= b.TempFailures {
		return gateway.SendResult{}, gateway.RetryAfter(errors.New("test channel: 451 try again later"), b.RetryAfter)
	}
	c.mu.Lock()
	c.delivered[id] = 1 // the receiver keys on the delivery id: a resend is a duplicate
	got := Sent{Purpose: out.Delivery.Purpose}
	for _, rc := range out.Records {
		got.RecordIDs = append(got.RecordIDs, rc.ID)
	}
	if got.Purpose == gateway.PurposeAnswer {
		got.Answer = out.Referral.Answer
	}
	c.sent[id] = got
	c.mu.Unlock()
	if b.AfterSend != nil {
		b.AfterSend(n)
	}
	if b.Await > 0 {
		return gateway.SendResult{RemoteID: "remote-" + id, AwaitReceipt: b.Await, Detail: "accepted"}, nil
	}
	return gateway.SendResult{RemoteID: "remote-" + id, Delivered: true, Detail: "received"}, nil
}

// Attempts returns how often a delivery was sent.
func (c *RecordingChannel) Attempts(deliveryID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts[deliveryID]
}

// SentFor returns what the receiver got in delivery deliveryID.
func (c *RecordingChannel) SentFor(deliveryID string) (Sent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sent[deliveryID]
	return s, ok
}

// Received returns how many distinct deliveries the receiver accepted.
func (c *RecordingChannel) Received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.delivered)
}

// ManualClock is a clock tests move by hand.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock starts at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t.UTC()} }

// Now implements gateway.Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
