package subscription

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// Subscription is a stored subscription: what its client set, and the
// status and error the notifier maintains. The core keeps it (a
// gateway.Subscription, with its delivery state beside it).
type Subscription struct {
	ID       string
	OrgID    string
	ClientID string
	Status   Status
	Reason   string
	Criteria Criteria
	End      time.Time
	Endpoint string
	Payload  string
	Header   []string
	Error    string

	// Version and Updated are what clients read as meta.versionId and
	// meta.lastUpdated; delivering notifications changes neither.
	Version int
	Updated time.Time
}

// fromCore is the subscription of a core record.
func fromCore(c gateway.Subscription) *Subscription {
	return &Subscription{ID: c.ID, OrgID: c.OrgID, ClientID: c.ClientID, Status: Status(c.Status), Reason: c.Reason,
		Criteria: Criteria{Param: c.Criteria.Param, OrgID: c.Criteria.OrgID}, End: c.End, Endpoint: c.Endpoint,
		Payload: c.Payload, Header: c.Header, Error: c.Error, Version: c.Version, Updated: c.Updated}
}

// toCore writes the client's settings and the status into a core record.
func (s *Subscription) toCore(c *gateway.Subscription) {
	c.ClientID, c.Status, c.Reason = s.ClientID, gateway.SubscriptionStatus(s.Status), s.Reason
	c.Criteria = gateway.SubscriptionCriteria{Param: s.Criteria.Param, OrgID: s.Criteria.OrgID}
	c.End, c.Endpoint, c.Payload, c.Header, c.Error = s.End, s.Endpoint, s.Payload, s.Header, s.Error
}

// Redacted replaces every channel.header value when a subscription is
// read: the headers carry the receiver's credentials, which clients write
// but never read back. A header sent back with this value keeps the stored
// one of the same name.
const Redacted = "***"

func redact(header []string) []string {
	out := make([]string, 0, len(header))
	for _, h := range header {
		name, _, _ := strings.Cut(h, ":")
		out = append(out, name+": "+Redacted)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// unredact restores the stored value of every submitted header whose value
// is Redacted.
func unredact(submitted, stored []string) ([]string, error) {
	out := make([]string, 0, len(submitted))
	for i, h := range submitted {
		name, value, _ := strings.Cut(h, ":")
		if strings.TrimSpace(value) != Redacted {
			out = append(out, h)
			continue
		}
		j := slices.IndexFunc(stored, func(s string) bool {
			n, _, _ := strings.Cut(s, ":")
			return strings.EqualFold(strings.TrimSpace(n), strings.TrimSpace(name))
		})
		if j < 0 {
			return nil, refuse("value", fmt.Sprintf("Subscription.channel.header[%d]", i), "header %s has no stored value to keep", truncate(name, 40))
		}
		out = append(out, stored[j])
	}
	return out, nil
}

// Resource renders the subscription as an R4 Subscription; header values
// are Redacted.
func (s *Subscription) Resource() *Resource {
	res := &Resource{ResourceType: "Subscription", ID: s.ID, Status: s.Status, Reason: s.Reason,
		Criteria: s.Criteria.String(), Error: s.Error,
		Meta:    &Meta{VersionID: strconv.Itoa(s.Version), LastUpdated: mapping.Instant(s.Updated)},
		Channel: &Channel{Type: "rest-hook", Endpoint: s.Endpoint, Payload: s.Payload, Header: redact(s.Header)}}
	if !s.End.IsZero() {
		res.End = mapping.Instant(s.End)
	}
	return res
}

// State is a subscription's delivery state, owned by the Notifier and
// kept by the core beside the subscription: the cursor, the versions sent
// near it, the failure count and backoff, and the lease.
type State = gateway.SubscriptionDelivery

// Mark is one delivered Task version.
type Mark = gateway.SentVersion

// Owner is the client a subscription belongs to.
type Owner struct {
	OrgID    string
	ClientID string
}

// Registry keeps subscriptions through the core's subscription methods.
// It is safe for concurrent use.
type Registry struct {
	svc *gateway.Service
	now func() time.Time
	cfg Config
}

// NewRegistry returns the registry over svc's store and clock.
func NewRegistry(svc *gateway.Service, cfg Config) *Registry {
	cfg.fill(svc)
	return &Registry{svc: svc, now: cfg.Clock, cfg: cfg}
}

// Create validates res for owner and stores it as a new subscription. Its
// cursor starts now: only changes after creation are notified.
func (g *Registry) Create(ctx context.Context, owner Owner, res *Resource) (*Subscription, error) {
	if res.Channel != nil {
		if _, err := unredact(res.Channel.Header, nil); err != nil {
			return nil, err
		}
	}
	sp, err := Validate(res, owner.OrgID, g.cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	now := g.now().UTC()
	s := &Subscription{OrgID: owner.OrgID, ClientID: owner.ClientID}
	s.apply(sp)
	c := gateway.Subscription{OrgID: owner.OrgID, Delivery: State{Start: now, Cursor: now}}
	s.toCore(&c)
	c, err = g.svc.CreateSubscription(ctx, c, g.cfg.MaxPerOrg)
	if errors.Is(err, gateway.ErrLimit) {
		return nil, refuse("business-rule", "Subscription", "this organisation already has %d subscriptions", g.cfg.MaxPerOrg)
	}
	if err != nil {
		return nil, fmt.Errorf("subscription: create: %w", err)
	}
	return fromCore(c), nil
}

func (s *Subscription) apply(sp *Spec) {
	s.Status, s.Reason, s.Criteria, s.End = sp.Status, sp.Reason, sp.Criteria, sp.End
	s.Endpoint, s.Payload, s.Header = sp.Endpoint, sp.Payload, sp.Header
}

// load reads a subscription of orgID (any organisation's when orgID is
// empty); another organisation's is gateway.ErrNotFound.
func (g *Registry) load(ctx context.Context, orgID, id string) (gateway.Subscription, error) {
	c, err := g.svc.Subscription(ctx, id)
	if err == nil && orgID != "" && c.OrgID != orgID {
		err = gateway.ErrNotFound
	}
	return c, err
}

// Get loads a subscription of orgID; another organisation's subscription
// is gateway.ErrNotFound.
func (g *Registry) Get(ctx context.Context, orgID, id string) (*Subscription, error) {
	c, err := g.load(ctx, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("subscription: get %s: %w", id, err)
	}
	return fromCore(c), nil
}

// List returns orgID's subscriptions in id order.
func (g *Registry) List(ctx context.Context, orgID string) ([]*Subscription, error) {
	if orgID == "" {
		return nil, nil
	}
	all, err := g.svc.Subscriptions(ctx, gateway.SubscriptionQuery{OrgID: orgID})
	if err != nil {
		return nil, fmt.Errorf("subscription: list: %w", err)
	}
	out := make([]*Subscription, 0, len(all))
	for _, c := range all {
		out = append(out, fromCore(c))
	}
	return out, nil
}

// Failing lists every organisation's subscriptions in status error, for
// the admin console's health view.
func (g *Registry) Failing(ctx context.Context) ([]*Subscription, error) {
	all, err := g.svc.Subscriptions(ctx, gateway.SubscriptionQuery{Status: gateway.SubscriptionError})
	if err != nil {
		return nil, fmt.Errorf("subscription: failing: %w", err)
	}
	var out []*Subscription
	for _, c := range all {
		out = append(out, fromCore(c))
	}
	return out, nil
}

// Update replaces what the client may set. ifMatch, when not zero, must be
// the stored version (gateway.ErrConflict otherwise). Setting requested or
// active on a subscription in error or off clears the error and the
// failure count, so notifications resume from where they stopped; a new
// criteria starts its cursor afresh.
func (g *Registry) Update(ctx context.Context, owner Owner, id string, ifMatch int, res *Resource) (*Subscription, error) {
	now := g.now().UTC()
	c, err := g.svc.ChangeSubscription(ctx, id, func(c *gateway.Subscription) error {
		if c.OrgID != owner.OrgID {
			return gateway.ErrNotFound
		}
		if ifMatch != 0 && ifMatch != c.Version {
			return gateway.ErrConflict
		}
		s := fromCore(*c)
		// A client sending back what it read keeps the error status; any
		// other change is validated as usual.
		keepError := res.Status == StatusError && s.Status == StatusError
		check := *res
		if res.Channel != nil {
			ch := *res.Channel
			var err error
			if ch.Header, err = unredact(ch.Header, s.Header); err != nil {
				return err
			}
			check.Channel = &ch
		}
		if keepError {
			check.Status = StatusOff
		}
		sp, err := Validate(&check, owner.OrgID, g.cfg.AllowHTTP)
		if err != nil {
			return err
		}
		if keepError {
			sp.Status = StatusError
		}
		prev := *s
		s.apply(sp)
		if !keepError && (prev.Status == StatusError || prev.Status == StatusOff || prev.Endpoint != s.Endpoint || prev.Criteria != s.Criteria) {
			s.Error = ""
			c.Delivery.Failures, c.Delivery.NextAttempt = 0, time.Time{}
			if prev.Criteria != s.Criteria {
				c.Delivery.Start, c.Delivery.Cursor, c.Delivery.Sent = now, now, nil
			}
		}
		s.ClientID = owner.ClientID
		s.toCore(c)
		// Every accepted update is a new version, even when it changes
		// nothing: the client wrote it (a changed Updated asks for one).
		c.Updated = time.Time{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: update %s: %w", id, err)
	}
	return fromCore(c), nil
}

// Delete removes a subscription of orgID and its delivery state.
func (g *Registry) Delete(ctx context.Context, orgID, id string) error {
	return g.DeleteIf(ctx, orgID, id, nil)
}

// DeleteIf is Delete of a version holds accepts, decided where the delete
// happens (see gateway.Service.DeleteSubscriptionIf): a subscription at
// another version is left alone and the error is a *gateway.VersionConflict.
func (g *Registry) DeleteIf(ctx context.Context, orgID, id string, holds func(version int) bool) error {
	if _, err := g.load(ctx, orgID, id); err != nil {
		return fmt.Errorf("subscription: delete %s: %w", id, err)
	}
	if err := g.svc.DeleteSubscriptionIf(ctx, id, holds); err != nil {
		return fmt.Errorf("subscription: delete %s: %w", id, err)
	}
	return nil
}

// State returns a subscription's delivery state (for tests and the admin
// console); orgID must own it.
func (g *Registry) State(ctx context.Context, orgID, id string) (*State, error) {
	c, err := g.load(ctx, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("subscription: state %s: %w", id, err)
	}
	return &c.Delivery, nil
}
