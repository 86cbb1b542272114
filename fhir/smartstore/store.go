package smartstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// Document kinds this package owns in the core store.
const (
	KindClient = "smart-client"
	KindJTI    = "smart-jti"
)

// Store is a durable smart.ClientRegistry and smart.ReplayCache over the
// core store's documents. It is safe for concurrent use.
type Store struct {
	svc *gateway.Service
}

// New returns a Store writing through svc (its store, clock and audit trail).
func New(svc *gateway.Service) *Store { return &Store{svc: svc} }

// record is a registered client as stored: the JWKS is kept as submitted
// and parsed again on every lookup.
type record struct {
	ID       string          `json:"id"`
	OrgID    string          `json:"orgId"`
	Scopes   []string        `json:"scopes"`
	JWKS     json.RawMessage `json:"jwks"`
	Disabled bool            `json:"disabled,omitempty"`
}

// Register validates and stores a client (adding it or replacing the one
// with the same id), with jwks the raw JWKS document its assertions are
// checked against, and audits the registration in the client's
// organisation's trail. An empty c.ID gets a new id; the stored client is
// returned.
func (s *Store) Register(ctx context.Context, actor string, c smart.Client, jwks []byte) (smart.Client, error) {
	if c.ID == "" {
		c.ID = gateway.NewID()
	}
	keys, err := validate(c, jwks)
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: register %s: %w", c.ID, err)
	}
	c.JWKS = keys
	body, err := json.Marshal(record{ID: c.ID, OrgID: c.OrgID, Scopes: c.Scopes, JWKS: compact(jwks), Disabled: c.Disabled})
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: register %s: %w", c.ID, err)
	}
	now := s.svc.Clock().Now()
	kids := make([]string, 0, len(keys))
	for _, k := range keys {
		kids = append(kids, k.KID)
	}
	_, err = s.svc.ChangeDocument(ctx, KindClient, c.ID, func(old gateway.Document, err error) (gateway.Document, *audit.Event, error) {
		if err != nil && !errors.Is(err, gateway.ErrNotFound) {
			return gateway.Document{}, nil, err
		}
		return gateway.Document{Updated: now, Body: body}, &audit.Event{Time: now, Actor: actor, Tenants: []string{c.OrgID},
			Action: "smart.client-registered", Outcome: audit.OutcomeSuccess, Detail: map[string]string{"client": c.ID,
				"scopes": strings.Join(c.Scopes, " "), "kids": strings.Join(kids, " "), "version": fmt.Sprint(old.Version + 1)}}, nil
	})
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: register %s: %w", c.ID, err)
	}
	return c, nil
}

// validate checks the registration: an organisation, parseable scopes and
// a JWKS with at least one signing key.
func validate(c smart.Client, jwks []byte) (smart.JWKS, error) {
	if c.OrgID == "" {
		return nil, errors.New("organisation is required")
	}
	if len(c.Scopes) == 0 {
		return nil, errors.New("at least one scope is required")
	}
	for _, sc := range c.Scopes {
		if _, err := smart.ParseScope(sc); err != nil {
			return nil, err
		}
	}
	keys, err := smart.ParseJWKS(jwks)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no signing key", smart.ErrJWKS)
	}
	return keys, nil
}

// compact strips insignificant white space from an already parsed JSON document.
func compact(b []byte) json.RawMessage {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

// Client implements smart.ClientRegistry; an unregistered id wraps
// smart.ErrUnknownClient.
func (s *Store) Client(ctx context.Context, id string) (smart.Client, error) {
	d, err := s.svc.Document(ctx, KindClient, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return smart.Client{}, fmt.Errorf("smartstore: client %q: %w", id, smart.ErrUnknownClient)
	}
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: client %q: %w", id, err)
	}
	return decode(d)
}

// Clients lists the registered clients in id order.
func (s *Store) Clients(ctx context.Context) ([]smart.Client, error) {
	docs, err := s.svc.Documents(ctx, KindClient)
	if err != nil {
		return nil, fmt.Errorf("smartstore: clients: %w", err)
	}
	out := make([]smart.Client, 0, len(docs))
	for _, d := range docs {
		c, err := decode(d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func decode(d gateway.Document) (smart.Client, error) {
	var r record
	if err := json.Unmarshal(d.Body, &r); err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: client %q: stored record: %w", d.ID, err)
	}
	keys, err := smart.ParseJWKS(r.JWKS)
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: client %q: stored JWKS: %w", d.ID, err)
	}
	return smart.Client{ID: r.ID, OrgID: r.OrgID, Scopes: r.Scopes, JWKS: keys, Disabled: r.Disabled}, nil
}

// Seen implements smart.ReplayCache: the first caller to record
// (clientID, jti) wins, every later one before exp is told it was seen.
func (s *Store) Seen(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	sum := sha256.Sum256([]byte(clientID + "\x00" + jti))
	body, err := json.Marshal(map[string]string{"client": clientID})
	if err != nil {
		return false, err
	}
	d := gateway.Document{Kind: KindJTI, ID: hex.EncodeToString(sum[:]), Version: 1,
		Updated: s.svc.Clock().Now(), Expires: exp, Body: body}
	inserted, err := s.svc.InsertDocument(ctx, d, nil)
	if err != nil {
		return false, fmt.Errorf("smartstore: replay check: %w", err)
	}
	return !inserted, nil
}

// SetDisabled marks a registered client disabled (refused at the token
// endpoint even with a valid assertion) or enabled again, keeping its JWKS
// as submitted, and audits the change in the client's organisation's trail.
// An unregistered id wraps smart.ErrUnknownClient; the stored client is
// returned.
func (s *Store) SetDisabled(ctx context.Context, actor, id string, disabled bool) (smart.Client, error) {
	now := s.svc.Clock().Now()
	var out smart.Client
	_, err := s.svc.ChangeDocument(ctx, KindClient, id, func(d gateway.Document, err error) (gateway.Document, *audit.Event, error) {
		if errors.Is(err, gateway.ErrNotFound) {
			return d, nil, smart.ErrUnknownClient
		} else if err != nil {
			return d, nil, err
		}
		var r record
		if err := json.Unmarshal(d.Body, &r); err != nil {
			return d, nil, fmt.Errorf("stored record: %w", err)
		}
		r.Disabled = disabled
		if d.Body, err = json.Marshal(r); err != nil {
			return d, nil, err
		}
		d.Updated = now
		d.Version++
		if out, err = decode(d); err != nil {
			return d, nil, err
		}
		action := "smart.client-enabled"
		if disabled {
			action = "smart.client-disabled"
		}
		return d, &audit.Event{Time: now, Actor: actor, Tenants: []string{r.OrgID}, Action: action,
			Outcome: audit.OutcomeSuccess, Detail: map[string]string{"client": r.ID, "version": fmt.Sprint(d.Version)}}, nil
	})
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: set disabled %s: %w", id, err)
	}
	return out, nil
}
