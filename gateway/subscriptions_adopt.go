package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Before migration 019 the FHIR edge kept subscriptions as documents of
// these kinds, with these JSON shapes.
const (
	docLegacySubscription      = "fhir-subscription"
	docLegacySubscriptionState = "fhir-subscription-state"
)

type legacySubscription struct {
	ID       string `json:"id"`
	OrgID    string `json:"orgId"`
	ClientID string `json:"clientId"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Criteria struct{ Param, OrgID string }
	End      time.Time `json:"end"`
	Endpoint string    `json:"endpoint"`
	Payload  string    `json:"payload"`
	Header   []string  `json:"header"`
	Error    string    `json:"error"`
}

type legacySubscriptionState struct {
	Start       time.Time              `json:"start"`
	Cursor      time.Time              `json:"cursor"`
	Sent        map[string]SentVersion `json:"sent"`
	Failures    int                    `json:"failures"`
	NextAttempt time.Time              `json:"nextAttempt"`
}

// AdoptSubscriptionDocuments moves subscriptions a gateway kept as
// documents before migration 019 into their table, with their delivery
// state (cursor, sent versions, failures), and deletes the documents, all
// in one transaction; a live one gets a run queued so that it resumes. It
// returns how many it moved; run again, it finds none. Serve calls it at
// start; nodes starting together each try, and the one that finds the
// rows already moved moves nothing. Once nothing is left, which is every
// start after the first one past migration 019, it costs one read of the
// documents' primary key in a read-only transaction, and opens no write
// transaction.
func (s *Service) AdoptSubscriptionDocuments(ctx context.Context) (int, error) {
	ctx = subscriptionScope(ctx)
	left, err := s.legacySubscriptionsLeft(ctx)
	if err != nil {
		return 0, fmt.Errorf("adopt subscription documents: %w", err)
	}
	if !left {
		return 0, nil
	}
	var n int
	for range 3 {
		n, err = s.adoptSubscriptionDocuments(ctx)
		if !errors.Is(err, ErrConflict) {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("adopt subscription documents: %w", err)
	}
	return n, nil
}

// legacySubscriptionsLeft reports whether any subscription document is
// still waiting to be adopted. A document found here and gone by the time
// the write transaction reads again (another node adopted it) is fine:
// that transaction moves what it finds, possibly nothing.
func (s *Service) legacySubscriptionsLeft(ctx context.Context) (bool, error) {
	left := false
	err := s.store.View(ctx, func(tx Tx) error {
		docs, err := tx.Documents(ctx, docLegacySubscription, s.clock.Now())
		left = len(docs) > 0
		return err
	})
	return left, err
}

func (s *Service) adoptSubscriptionDocuments(ctx context.Context) (int, error) {
	n := 0
	err := s.store.Update(ctx, func(tx Tx) error {
		n = 0
		docs, err := tx.Documents(ctx, docLegacySubscription, s.clock.Now())
		if err != nil || len(docs) == 0 {
			return err
		}
		for _, d := range docs {
			var old legacySubscription
			if err := json.Unmarshal(d.Body, &old); err != nil {
				return fmt.Errorf("subscription document %s: %w", d.ID, err)
			}
			sub := Subscription{ID: d.ID, OrgID: old.OrgID, ClientID: old.ClientID, Status: SubscriptionStatus(old.Status),
				Reason: old.Reason, Criteria: SubscriptionCriteria{Param: old.Criteria.Param, OrgID: old.Criteria.OrgID},
				End: old.End, Endpoint: old.Endpoint, Payload: old.Payload, Header: old.Header, Error: old.Error,
				Version: d.Version, Updated: d.Updated}
			sub.Delivery = SubscriptionDelivery{Start: d.Updated, Cursor: d.Updated, Version: 1}
			var st legacySubscriptionState
			if _, err := getDoc(ctx, tx, docLegacySubscriptionState, d.ID, &st); err == nil {
				sub.Delivery.Start, sub.Delivery.Cursor, sub.Delivery.Sent = st.Start, st.Cursor, st.Sent
				sub.Delivery.Failures, sub.Delivery.NextAttempt = st.Failures, st.NextAttempt
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			if err := sub.validate(); err != nil {
				return fmt.Errorf("subscription document %s: %w", d.ID, err)
			}
			if err := tx.InsertSubscription(ctx, &sub); err != nil {
				return err
			}
			if err := queueSubscriptionRun(ctx, tx, &sub); err != nil {
				return err
			}
			if err := deleteDoc(ctx, tx, docLegacySubscriptionState, d.ID); err != nil {
				return err
			}
			if err := deleteDoc(ctx, tx, docLegacySubscription, d.ID); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
