package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
)

// SMARTClient is a system registered for SMART Backend Services on the
// FHIR API: the organisation it acts for, the scopes it may be granted and
// the JWKS its client assertions are checked against. The FHIR edge
// parses the scopes and keys; the core keeps them and audits changes.
type SMARTClient struct {
	ID       string          `json:"id"`
	OrgID    string          `json:"orgId"`
	Scopes   []string        `json:"scopes"`
	JWKS     json.RawMessage `json:"jwks"`           // as submitted (compacted)
	KeyIDs   []string        `json:"kids,omitempty"` // the JWKS's key ids, for the trail
	Disabled bool            `json:"disabled,omitempty"`
	Version  int             `json:"-"`
	Updated  time.Time       `json:"-"`
}

func (c *SMARTClient) validate() error {
	var errs ValidationErrors
	if c.ID == "" || len(c.ID) > 128 {
		errs = append(errs, &ValidationError{Field: "id", Reason: "must be 1-128 characters"})
	}
	if c.OrgID == "" {
		errs = append(errs, &ValidationError{Field: "orgId", Reason: "organisation is required"})
	}
	if len(c.Scopes) == 0 {
		errs = append(errs, &ValidationError{Field: "scopes", Reason: "at least one scope is required"})
	}
	if len(c.JWKS) == 0 || !json.Valid(c.JWKS) {
		errs = append(errs, &ValidationError{Field: "jwks", Reason: "a JWKS document is required"})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// SMARTClient returns a registered client (ErrNotFound when there is none).
func (s *Service) SMARTClient(ctx context.Context, id string) (SMARTClient, error) {
	var c SMARTClient
	err := s.store.View(ctx, func(tx Tx) error {
		d, err := tx.Document(ctx, docSMARTClient, id)
		if err != nil {
			return err
		}
		c, err = decodeSMARTClient(d)
		return err
	})
	if err != nil {
		return SMARTClient{}, fmt.Errorf("smart client %s: %w", id, err)
	}
	return c, nil
}

// SMARTClients lists the registered clients in id order.
func (s *Service) SMARTClients(ctx context.Context) ([]SMARTClient, error) {
	var out []SMARTClient
	err := s.store.View(ctx, func(tx Tx) error {
		docs, err := tx.Documents(ctx, docSMARTClient, s.clock.Now())
		if err != nil {
			return err
		}
		for _, d := range docs {
			c, err := decodeSMARTClient(d)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("smart clients: %w", err)
	}
	return out, nil
}

func decodeSMARTClient(d Document) (SMARTClient, error) {
	var c SMARTClient
	if err := json.Unmarshal(d.Body, &c); err != nil {
		return SMARTClient{}, fmt.Errorf("stored smart client %s: %w", d.ID, err)
	}
	c.Version, c.Updated = d.Version, d.Updated
	return c, nil
}

// PutSMARTClient registers c, or replaces the client with its id, and
// records smart.client-registered (client id, scopes, key ids, version:
// never key material) in the client's organisation's trail in the same
// transaction. It returns the stored client.
func (s *Service) PutSMARTClient(ctx context.Context, actor string, c SMARTClient) (SMARTClient, error) {
	if err := c.validate(); err != nil {
		return SMARTClient{}, fmt.Errorf("register smart client %s: %w", c.ID, err)
	}
	now := s.clock.Now()
	err := s.store.Update(ctx, func(tx Tx) error {
		old, err := tx.Document(ctx, docSMARTClient, c.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		c.Version, c.Updated = old.Version+1, now
		if err := putDoc(ctx, tx, docSMARTClient, c.ID, c.Version, now, time.Time{}, &c); err != nil {
			return err
		}
		return tx.Audit(ctx, audit.Event{Time: now, Actor: actor, Tenants: []string{c.OrgID},
			Action: "smart.client-registered", Outcome: audit.OutcomeSuccess, Detail: map[string]string{"client": c.ID,
				"scopes": strings.Join(c.Scopes, " "), "kids": strings.Join(c.KeyIDs, " "), "version": strconv.Itoa(c.Version)}})
	})
	if err != nil {
		return SMARTClient{}, fmt.Errorf("register smart client %s: %w", c.ID, err)
	}
	return c, nil
}

// SetSMARTClientDisabled disables a client (refused at the token endpoint
// even with a valid assertion) or enables it again, and records the change
// in its organisation's trail. An unknown id is ErrNotFound.
func (s *Service) SetSMARTClientDisabled(ctx context.Context, actor, id string, disabled bool) (SMARTClient, error) {
	now := s.clock.Now()
	var c SMARTClient
	err := s.store.Update(ctx, func(tx Tx) error {
		d, err := tx.Document(ctx, docSMARTClient, id)
		if err != nil {
			return err
		}
		if c, err = decodeSMARTClient(d); err != nil {
			return err
		}
		c.Disabled = disabled
		c.Version, c.Updated = c.Version+1, now
		if err := putDoc(ctx, tx, docSMARTClient, id, c.Version, now, time.Time{}, &c); err != nil {
			return err
		}
		action := "smart.client-enabled"
		if disabled {
			action = "smart.client-disabled"
		}
		return tx.Audit(ctx, audit.Event{Time: now, Actor: actor, Tenants: []string{c.OrgID}, Action: action,
			Outcome: audit.OutcomeSuccess, Detail: map[string]string{"client": id, "version": strconv.Itoa(c.Version)}})
	})
	if err != nil {
		return SMARTClient{}, fmt.Errorf("smart client %s: %w", id, err)
	}
	return c, nil
}

// UseAssertionID records that a client's assertion with this id (jti) was
// accepted, kept until the assertion expires at exp. It reports whether
// this is the first use: across every gateway instance sharing the
// database, one caller wins and every other is told the id was used.
func (s *Service) UseAssertionID(ctx context.Context, clientID, jti string, exp time.Time) (first bool, err error) {
	if clientID == "" || jti == "" {
		return false, fmt.Errorf("assertion id: %w", &ValidationError{Field: "jti", Reason: "client id and assertion id are required"})
	}
	sum := sha256.Sum256([]byte(clientID + "\x00" + jti))
	body, err := json.Marshal(map[string]string{"client": clientID})
	if err != nil {
		return false, err
	}
	d := Document{Kind: docSMARTAssertion, ID: hex.EncodeToString(sum[:]), Version: 1, Updated: s.clock.Now(), Expires: exp, Body: body}
	err = s.store.Update(ctx, func(tx Tx) error {
		var err error
		first, err = tx.InsertDocument(ctx, d)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("assertion id of %s: %w", clientID, err)
	}
	return first, nil
}
