package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// Document kinds in the core store. The resource and the notifier's
// delivery state are kept apart so that delivering a notification does not
// change the version a client reads and sends back in If-Match.
const (
	// Kind holds one Subscription (the client's settings, status, error).
	Kind = "fhir-subscription"
	// StateKind holds its delivery state (cursor, failures, next attempt).
	StateKind = "fhir-subscription-state"
)

// Subscription is a stored subscription: what its client set, and the
// status and error the notifier maintains.
type Subscription struct {
	ID       string    `json:"id"`
	OrgID    string    `json:"orgId"`
	ClientID string    `json:"clientId"`
	Status   Status    `json:"status"`
	Reason   string    `json:"reason"`
	Criteria Criteria  `json:"criteria"`
	End      time.Time `json:"end,omitzero"`
	Endpoint string    `json:"endpoint"`
	Payload  string    `json:"payload,omitempty"`
	Header   []string  `json:"header,omitempty"`
	Error    string    `json:"error,omitempty"`

	// Version and Updated come from the stored document.
	Version int       `json:"-"`
	Updated time.Time `json:"-"`
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

// State is a subscription's delivery state, owned by the Notifier.
type State struct {
	// Start is when the subscription (or its current criteria) began:
	// nothing updated before it is notified.
	Start time.Time `json:"start"`
	// Cursor is the Updated time of the newest Task version delivered.
	Cursor time.Time `json:"cursor"`
	// Sent remembers the versions delivered near the cursor (within the
	// overlap the notifier re-reads), so none is sent twice.
	Sent map[string]Mark `json:"sent,omitempty"`
	// Failures counts consecutive failed attempts.
	Failures int `json:"failures,omitempty"`
	// NextAttempt is when a failing endpoint is tried again.
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	// Holder is the notifier delivering for this subscription until
	// HeldUntil, so that two gateway instances never both send.
	Holder    string    `json:"holder,omitempty"`
	HeldUntil time.Time `json:"heldUntil,omitzero"`
	// Version is the stored document version.
	Version int `json:"-"`
}

// Mark is one delivered Task version.
type Mark struct {
	Version int       `json:"v"`
	Updated time.Time `json:"u"`
}

// Owner is the client a subscription belongs to.
type Owner struct {
	OrgID    string
	ClientID string
}

// Registry stores subscriptions as core documents. It is safe for
// concurrent use.
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
	s := &Subscription{ID: gateway.NewID(), OrgID: owner.OrgID, ClientID: owner.ClientID}
	s.apply(sp)
	err = g.svc.UpdateDocuments(ctx, func(tx gateway.DocumentTx) error {
		docs, err := tx.Documents(ctx, Kind, now)
		if err != nil {
			return err
		}
		n := 0
		for _, d := range docs {
			var other Subscription
			if json.Unmarshal(d.Body, &other) == nil && other.OrgID == owner.OrgID {
				n++
			}
		}
		if n >= g.cfg.MaxPerOrg {
			return refuse("business-rule", "Subscription", "this organisation already has %d subscriptions", n)
		}
		if err := putJSON(ctx, tx, Kind, s.ID, 1, now, s); err != nil {
			return err
		}
		if err := putJSON(ctx, tx, StateKind, s.ID, 1, now, &State{Start: now, Cursor: now}); err != nil {
			return err
		}
		return queueServe(ctx, tx, s)
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: create: %w", err)
	}
	s.Version, s.Updated = 1, now
	return s, nil
}

func (s *Subscription) apply(sp *Spec) {
	s.Status, s.Reason, s.Criteria, s.End = sp.Status, sp.Reason, sp.Criteria, sp.End
	s.Endpoint, s.Payload, s.Header = sp.Endpoint, sp.Payload, sp.Header
}

// Get loads a subscription of orgID; another organisation's subscription
// is gateway.ErrNotFound.
func (g *Registry) Get(ctx context.Context, orgID, id string) (*Subscription, error) {
	var s *Subscription
	err := g.svc.ViewDocuments(ctx, func(tx gateway.DocumentTx) error {
		var err error
		s, err = load(ctx, tx, id)
		return err
	})
	if err == nil && s.OrgID != orgID {
		err = gateway.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("subscription: get %s: %w", id, err)
	}
	return s, nil
}

// List returns orgID's subscriptions in id order.
func (g *Registry) List(ctx context.Context, orgID string) ([]*Subscription, error) {
	var out []*Subscription
	err := g.svc.ViewDocuments(ctx, func(tx gateway.DocumentTx) error {
		all, err := loadAll(ctx, tx, g.now())
		for _, s := range all {
			if s.OrgID == orgID {
				out = append(out, s)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: list: %w", err)
	}
	return out, nil
}

// Failing lists every organisation's subscriptions in status error, for
// the admin console's health view.
func (g *Registry) Failing(ctx context.Context) ([]*Subscription, error) {
	var out []*Subscription
	err := g.svc.ViewDocuments(ctx, func(tx gateway.DocumentTx) error {
		all, err := loadAll(ctx, tx, g.now())
		for _, s := range all {
			if s.Status == StatusError {
				out = append(out, s)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: failing: %w", err)
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
	var out *Subscription
	err := g.svc.UpdateDocuments(ctx, func(tx gateway.DocumentTx) error {
		s, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		if s.OrgID != owner.OrgID {
			return gateway.ErrNotFound
		}
		if ifMatch != 0 && ifMatch != s.Version {
			return gateway.ErrConflict
		}
		// A client sending back what it read keeps the error status; any
		// other change is validated as usual.
		keepError := res.Status == StatusError && s.Status == StatusError
		check := *res
		if res.Channel != nil {
			ch := *res.Channel
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
			st, err := loadState(ctx, tx, id, now)
			if err != nil {
				return err
			}
			st.Failures, st.NextAttempt = 0, time.Time{}
			if prev.Criteria != s.Criteria {
				st.Start, st.Cursor, st.Sent = now, now, nil
			}
			if err := putJSON(ctx, tx, StateKind, id, st.Version+1, now, st); err != nil {
				return err
			}
		}
		s.ClientID = owner.ClientID
		s.Version, s.Updated = s.Version+1, now
		out = s
		if err := putJSON(ctx, tx, Kind, id, s.Version, now, s); err != nil {
			return err
		}
		return queueServe(ctx, tx, s)
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: update %s: %w", id, err)
	}
	return out, nil
}

// Delete removes a subscription of orgID and its delivery state.
func (g *Registry) Delete(ctx context.Context, orgID, id string) error {
	err := g.svc.UpdateDocuments(ctx, func(tx gateway.DocumentTx) error {
		s, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		if s.OrgID != orgID {
			return gateway.ErrNotFound
		}
		if err := tx.DeleteDocument(ctx, StateKind, id); err != nil && !errors.Is(err, gateway.ErrNotFound) {
			return err
		}
		return tx.DeleteDocument(ctx, Kind, id)
	})
	if err != nil {
		return fmt.Errorf("subscription: delete %s: %w", id, err)
	}
	return nil
}

// State returns a subscription's delivery state (for tests and the admin
// console); orgID must own it.
func (g *Registry) State(ctx context.Context, orgID, id string) (*State, error) {
	var st *State
	err := g.svc.ViewDocuments(ctx, func(tx gateway.DocumentTx) error {
		s, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		if s.OrgID != orgID {
			return gateway.ErrNotFound
		}
		st, err = loadState(ctx, tx, id, s.Updated)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: state %s: %w", id, err)
	}
	return st, nil
}

func load(ctx context.Context, tx gateway.DocumentTx, id string) (*Subscription, error) {
	d, err := tx.Document(ctx, Kind, id)
	if err != nil {
		return nil, err
	}
	return decode(d)
}

func decode(d gateway.Document) (*Subscription, error) {
	var s Subscription
	if err := json.Unmarshal(d.Body, &s); err != nil {
		return nil, fmt.Errorf("decode subscription %s: %w", d.ID, err)
	}
	s.Version, s.Updated = d.Version, d.Updated
	return &s, nil
}

func loadAll(ctx context.Context, tx gateway.DocumentTx, now time.Time) ([]*Subscription, error) {
	docs, err := tx.Documents(ctx, Kind, now)
	if err != nil {
		return nil, err
	}
	out := make([]*Subscription, 0, len(docs))
	for _, d := range docs {
		s, err := decode(d)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// loadState reads the delivery state; a missing one (never expected)
// starts its cursor at from rather than at the beginning of time.
func loadState(ctx context.Context, tx gateway.DocumentTx, id string, from time.Time) (*State, error) {
	d, err := tx.Document(ctx, StateKind, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return &State{Start: from, Cursor: from}, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(d.Body, &st); err != nil {
		return nil, fmt.Errorf("decode subscription state %s: %w", id, err)
	}
	st.Version = d.Version
	return &st, nil
}

func putJSON(ctx context.Context, tx gateway.DocumentTx, kind, id string, version int, now time.Time, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.PutDocument(ctx, gateway.Document{Kind: kind, ID: id, Version: version, Updated: now, Body: b})
}
