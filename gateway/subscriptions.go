package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SubscriptionStatus is the state of a FHIR rest-hook subscription (R4's
// Subscription.status).
type SubscriptionStatus string

// The four statuses: requested waits for its handshake, active is
// notified, error stopped after repeated failures, off was turned off.
const (
	SubscriptionRequested SubscriptionStatus = "requested"
	SubscriptionActive    SubscriptionStatus = "active"
	SubscriptionError     SubscriptionStatus = "error"
	SubscriptionOff       SubscriptionStatus = "off"
)

// live reports whether the subscription is to be served (handshake or
// notifications).
func (st SubscriptionStatus) live() bool {
	return st == SubscriptionRequested || st == SubscriptionActive
}

// SubscriptionCriteria is what a subscription listens to: the Tasks its
// organisation owns (Param "owner": it is the receiver) or requested
// (Param "requester").
type SubscriptionCriteria struct {
	Param string
	OrgID string
}

// Subscription is a FHIR rest-hook subscription as the core keeps it: what
// its client set (the FHIR edge parses and renders the resource), its
// status, and the notifier's delivery state. The channel (endpoint,
// payload, headers, which carry the receiver's credentials) and the
// reason are sealed at rest; status, criteria and delivery state are
// columns the core matches and schedules on.
type Subscription struct {
	ID       string
	OrgID    string // the practice it belongs to
	ClientID string
	Status   SubscriptionStatus
	Reason   string
	Criteria SubscriptionCriteria
	End      time.Time // zero: no end
	Endpoint string
	Payload  string // "" or "application/fhir+json"
	Header   []string
	Error    string
	// Version counts changes of what the client reads (FHIR
	// meta.versionId); delivering notifications does not change it.
	Version int
	Updated time.Time
	// Delivery is the notifier's state.
	Delivery SubscriptionDelivery
}

// SubscriptionDelivery is a subscription's delivery state.
type SubscriptionDelivery struct {
	// Start is when the subscription (or its current criteria) began:
	// nothing updated before it is notified.
	Start time.Time
	// Cursor is the Updated time of the newest Task version delivered.
	Cursor time.Time
	// Sent remembers the versions delivered near the cursor, by referral
	// id, so none is sent twice.
	Sent map[string]SentVersion
	// Failures counts consecutive failed attempts.
	Failures int
	// NextAttempt is when a failing endpoint is tried again.
	NextAttempt time.Time
	// Holder is the notifier run sending for this subscription until
	// HeldUntil: two runs, on one node or several, never send at once.
	Holder    string
	HeldUntil time.Time
	// Version counts changes of the delivery state.
	Version int
}

// SentVersion is one delivered Task version.
type SentVersion struct {
	Version int       `json:"v"`
	Updated time.Time `json:"u"`
}

// SubscriptionQuery selects subscriptions.
type SubscriptionQuery struct {
	OrgID  string             // "": every organisation (a gateway-wide caller)
	Status SubscriptionStatus // "": any
}

// ErrLimit reports that an organisation already has as many records of a
// kind as it may.
var ErrLimit = errors.New("limit reached")

// PathSubscriptions is the named gateway-wide path of subscription work
// that starts from a subscription id (the notifier's jobs, the FHIR edge
// before it knows the subscription's organisation): it reads and changes
// subscriptions, whose channel is sealed, and each attempt is audited.
const PathSubscriptions = "subscriptions"

// validate checks what every stored subscription must satisfy; the FHIR
// edge has refused bad input with FHIR's own words before this.
func (sub *Subscription) validate() error {
	var errs ValidationErrors
	add := func(field, reason string) { errs = append(errs, &ValidationError{Field: field, Reason: reason}) }
	if sub.ID == "" {
		add("id", "is required")
	}
	if sub.OrgID == "" {
		add("orgId", "is required")
	}
	switch sub.Status {
	case SubscriptionRequested, SubscriptionActive, SubscriptionError, SubscriptionOff:
	default:
		add("status", "must be requested, active, error or off")
	}
	if sub.Criteria.Param != "owner" && sub.Criteria.Param != "requester" {
		add("criteria", "must be owner or requester")
	}
	if sub.Criteria.OrgID != sub.OrgID {
		add("criteria", "must name the subscription's own organisation")
	}
	if u, err := url.Parse(sub.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("endpoint", "must be an http(s) URL")
	}
	if sub.Payload != "" && sub.Payload != "application/fhir+json" {
		add("payload", "must be empty or application/fhir+json")
	}
	for i, h := range sub.Header {
		if name, _, ok := strings.Cut(h, ":"); !ok || strings.TrimSpace(name) == "" {
			add("header["+strconv.Itoa(i)+"]", "must be 'Name: value'")
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// clone copies sub deeply enough that a change to the copy leaves sub as it was.
func (sub *Subscription) clone() *Subscription {
	c := *sub
	c.Header = slices.Clone(sub.Header)
	c.Delivery.Sent = maps.Clone(sub.Delivery.Sent)
	return &c
}

// settings is what the client reads, without the versions.
func (sub *Subscription) settings() Subscription {
	c := *sub
	c.Version, c.Updated, c.Delivery = 0, time.Time{}, SubscriptionDelivery{}
	c.End = c.End.UTC()
	if len(c.Header) == 0 {
		c.Header = nil
	}
	return c
}

// subscriptionScope runs subscription work without a scope on its named path.
func subscriptionScope(ctx context.Context) context.Context { return readScope(ctx, PathSubscriptions) }

// CreateSubscription validates and stores a new subscription (Version 1)
// unless its organisation already has max (ErrLimit; 0: no limit), and
// queues its first run (the handshake of a requested one) in the same
// transaction.
func (s *Service) CreateSubscription(ctx context.Context, sub Subscription, max int) (Subscription, error) {
	ctx = subscriptionScope(ctx)
	if sub.ID == "" {
		sub.ID = NewID()
	}
	now := s.clock.Now().UTC()
	sub.Version, sub.Updated, sub.Delivery.Version = 1, now, 1
	if err := sub.validate(); err != nil {
		return Subscription{}, fmt.Errorf("create subscription: %w", err)
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		if max > 0 {
			have, err := tx.ListSubscriptions(ctx, SubscriptionQuery{OrgID: sub.OrgID})
			if err != nil {
				return err
			}
			if len(have) >= max {
				return fmt.Errorf("organisation %s has %d subscriptions: %w", sub.OrgID, len(have), ErrLimit)
			}
		}
		if err := tx.InsertSubscription(ctx, &sub); err != nil {
			return err
		}
		return queueSubscriptionRun(ctx, tx, &sub)
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("create subscription: %w", err)
	}
	return sub, nil
}

// Subscription returns one subscription (ErrNotFound when there is none,
// or, acting for a practice, when it is another practice's).
func (s *Service) Subscription(ctx context.Context, id string) (Subscription, error) {
	ctx = subscriptionScope(ctx)
	var out *Subscription
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Subscription(ctx, id, false)
		return err
	})
	if err == nil && !scopeSees(ctx, out.OrgID) {
		err = ErrNotFound
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("subscription %s: %w", id, err)
	}
	return *out, nil
}

// Subscriptions lists subscriptions in id order.
func (s *Service) Subscriptions(ctx context.Context, q SubscriptionQuery) ([]Subscription, error) {
	ctx = subscriptionScope(ctx)
	if p := ScopeFrom(ctx).Practice; p != "" && q.OrgID == "" {
		q.OrgID = p
	}
	var out []Subscription
	err := s.store.View(ctx, func(tx Tx) error {
		subs, err := tx.ListSubscriptions(ctx, q)
		for _, sub := range subs {
			if scopeSees(ctx, sub.OrgID) {
				out = append(out, *sub)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	return out, nil
}

// ChangeSubscription reads a subscription, lets change edit it, and stores
// the result in one transaction. A change to what the client reads bumps
// Version (and queues a run when the subscription is requested or active:
// its handshake, or the versions it missed), as does changing Updated (to any
// value: a client's update that changes nothing is still a version); a change to the delivery
// state bumps Delivery.Version; no change writes nothing. change returning
// an error changes nothing. The subscription's id and organisation cannot
// change.
func (s *Service) ChangeSubscription(ctx context.Context, id string, change func(*Subscription) error) (Subscription, error) {
	ctx = subscriptionScope(ctx)
	var out Subscription
	err := s.store.Update(ctx, func(tx Tx) error {
		cur, err := tx.Subscription(ctx, id, true)
		if err != nil {
			return err
		}
		if !scopeSees(ctx, cur.OrgID) {
			return ErrNotFound
		}
		next := cur.clone()
		if err := change(next); err != nil {
			return err
		}
		next.ID, next.OrgID = cur.ID, cur.OrgID
		settings := !reflect.DeepEqual(cur.settings(), next.settings()) || !next.Updated.Equal(cur.Updated)
		next.Version, next.Updated = cur.Version, cur.Updated
		delivery := !reflect.DeepEqual(cur.Delivery.comparable(), next.Delivery.comparable())
		next.Delivery.Version = cur.Delivery.Version
		if !settings && !delivery {
			out = *cur
			return nil
		}
		now := s.clock.Now().UTC()
		if settings {
			next.Version, next.Updated = cur.Version+1, now
		}
		if delivery {
			next.Delivery.Version++
		}
		if err := next.validate(); err != nil {
			return err
		}
		if err := tx.UpdateSubscription(ctx, next); err != nil {
			return err
		}
		out = *next
		if settings {
			return queueSubscriptionRun(ctx, tx, next)
		}
		return nil
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("subscription %s: %w", id, err)
	}
	return out, nil
}

// comparable is d without its version, an empty Sent as nil and times
// in UTC without monotonic readings, for telling whether a change changed it.
func (d SubscriptionDelivery) comparable() SubscriptionDelivery {
	d.Version = 0
	if len(d.Sent) == 0 {
		d.Sent = nil
	}
	for _, t := range []*time.Time{&d.Start, &d.Cursor, &d.NextAttempt, &d.HeldUntil} {
		*t = t.UTC()
	}
	return d
}

// DeleteSubscription removes a subscription and its delivery state; its
// queued jobs find it gone and do nothing.
func (s *Service) DeleteSubscription(ctx context.Context, id string) error {
	return s.DeleteSubscriptionIf(ctx, id, nil)
}

// DeleteSubscriptionIf is DeleteSubscription for a caller that deletes only
// a version it accepts (a FHIR DELETE with If-Match): holds is asked in the
// transaction that deletes, with the subscription locked, and when it says
// no nothing is deleted and the error wraps ErrConflict. A nil holds
// accepts any version.
func (s *Service) DeleteSubscriptionIf(ctx context.Context, id string, holds func(version int) bool) error {
	ctx = subscriptionScope(ctx)
	err := s.store.Update(ctx, func(tx Tx) error {
		cur, err := tx.Subscription(ctx, id, true)
		if err != nil {
			return err
		}
		if !scopeSees(ctx, cur.OrgID) {
			return ErrNotFound
		}
		if holds != nil && !holds(cur.Version) {
			return &VersionConflict{ID: "subscription " + id, Version: cur.Version}
		}
		return tx.DeleteSubscription(ctx, id)
	})
	if err != nil {
		return fmt.Errorf("delete subscription %s: %w", id, err)
	}
	return nil
}

// ServeSubscriptions makes this service notify subscriptions: from now on
// every referral version stored queues, in its own transaction, one
// JobNotifySubscription per requested or active subscription whose
// criteria it matches (Ref "<subscription>/<referral>/<version>"), and
// those jobs, with the runs queued by CreateSubscription and
// ChangeSubscription (Ref "<subscription>/<version>"), go to h.
func (s *Service) ServeSubscriptions(h JobHandler) {
	s.HandleJobKind(JobNotifySubscription, h)
	s.OnVersion(queueSubscriptionNotices)
}

// queueSubscriptionNotices queues the notification of version r for every
// live subscription whose criteria it matches.
func queueSubscriptionNotices(ctx context.Context, tx Tx, r *Referral) error {
	subs, err := tx.MatchSubscriptions(ctx, r)
	if err != nil {
		return fmt.Errorf("subscriptions of %s v%d: %w", r.ID, r.Version, err)
	}
	for _, id := range subs {
		ref := id + "/" + r.ID + "/" + strconv.Itoa(r.Version)
		if err := tx.Enqueue(ctx, Job{Kind: JobNotifySubscription, Ref: ref}); err != nil {
			return fmt.Errorf("queue notification %s: %w", ref, err)
		}
	}
	return nil
}

// queueSubscriptionRun queues a run of a created or changed subscription
// when it is to be served.
func queueSubscriptionRun(ctx context.Context, tx Tx, sub *Subscription) error {
	if !sub.Status.live() {
		return nil
	}
	return tx.Enqueue(ctx, Job{Kind: JobNotifySubscription, Ref: sub.ID + "/" + strconv.Itoa(sub.Version)})
}

// scopeSees reports whether the scope of ctx may see a record of org: a
// practice only its own, a gateway-wide path every one. On PostgreSQL
// row-level security says the same; the embedded store relies on this.
func scopeSees(ctx context.Context, org string) bool {
	p := ScopeFrom(ctx).Practice
	return p == "" || p == org
}

// VersionConflict is the error of a change conditioned on a version the
// record is no longer at; it wraps ErrConflict.
type VersionConflict struct {
	ID      string // what the record is, e.g. "referral r-1"
	Version int    // the version the record is at
	Want    int    // the version the change named; 0 when it named versions otherwise (If-Match lists)
}

func (e *VersionConflict) Error() string {
	if e.Want == 0 {
		return fmt.Sprintf("%s is at version %d", e.ID, e.Version)
	}
	return fmt.Sprintf("%s is at version %d, not %d", e.ID, e.Version, e.Want)
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *VersionConflict) Unwrap() error { return ErrConflict }
