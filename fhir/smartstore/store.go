package smartstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// Store is a durable smart.ClientRegistry and smart.ReplayCache over the
// core's typed SMART client methods. It is safe for concurrent use.
type Store struct {
	svc *gateway.Service
}

// New returns a Store writing through svc (its store, clock and audit trail).
func New(svc *gateway.Service) *Store { return &Store{svc: svc} }

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
	kids := make([]string, 0, len(keys))
	for _, k := range keys {
		kids = append(kids, k.KID)
	}
	_, err = s.svc.PutSMARTClient(ctx, actor, gateway.SMARTClient{ID: c.ID, OrgID: c.OrgID, Scopes: c.Scopes,
		JWKS: compact(jwks), KeyIDs: kids, Disabled: c.Disabled})
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
	c, err := s.svc.SMARTClient(ctx, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return smart.Client{}, fmt.Errorf("smartstore: client %q: %w", id, smart.ErrUnknownClient)
	}
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: client %q: %w", id, err)
	}
	return decode(c)
}

// Clients lists the registered clients in id order.
func (s *Store) Clients(ctx context.Context) ([]smart.Client, error) {
	all, err := s.svc.SMARTClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("smartstore: clients: %w", err)
	}
	out := make([]smart.Client, 0, len(all))
	for _, c := range all {
		sc, err := decode(c)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// decode parses the stored JWKS again: what was valid when registered is
// checked on every lookup.
func decode(c gateway.SMARTClient) (smart.Client, error) {
	keys, err := smart.ParseJWKS(c.JWKS)
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: client %q: stored JWKS: %w", c.ID, err)
	}
	return smart.Client{ID: c.ID, OrgID: c.OrgID, Scopes: c.Scopes, JWKS: keys, Disabled: c.Disabled}, nil
}

// Seen implements smart.ReplayCache: the first caller to record
// (clientID, jti) wins, every later one before exp is told it was seen.
func (s *Store) Seen(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	first, err := s.svc.UseAssertionID(ctx, clientID, jti, exp)
	if err != nil {
		return false, fmt.Errorf("smartstore: replay check: %w", err)
	}
	return !first, nil
}

// SetDisabled marks a registered client disabled (refused at the token
// endpoint even with a valid assertion) or enabled again, keeping its JWKS
// as submitted, and audits the change in the client's organisation's trail.
// An unregistered id wraps smart.ErrUnknownClient; the stored client is
// returned.
func (s *Store) SetDisabled(ctx context.Context, actor, id string, disabled bool) (smart.Client, error) {
	c, err := s.svc.SetSMARTClientDisabled(ctx, actor, id, disabled)
	if errors.Is(err, gateway.ErrNotFound) {
		err = smart.ErrUnknownClient
	}
	if err != nil {
		return smart.Client{}, fmt.Errorf("smartstore: set disabled %s: %w", id, err)
	}
	return decode(c)
}
