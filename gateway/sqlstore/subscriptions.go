package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

// ---- FHIR subscriptions (migration 019)

// subscriptionChannel is the sealed part of a subscription: where and how
// notifications go (the headers carry the receiver's credentials) and the
// client's free-text reason.
type subscriptionChannel struct {
	Reason   string   `json:"reason,omitempty"`
	Endpoint string   `json:"endpoint"`
	Payload  string   `json:"payload,omitempty"`
	Header   []string `json:"header,omitempty"`
}

func subscriptionAD(id string) []byte { return gateway.RowAD("fhir_subscriptions", id) }

const subscriptionColumns = `id, org_id, client_id, status, criteria_param, criteria_org, end_at, error, version, updated_at,
	channel, start_at, cursor_at, sent, failures, next_attempt, holder, held_until, state_version`

func (t *tx) InsertSubscription(ctx context.Context, s *gateway.Subscription) error {
	ch, sent, err := t.subscriptionSealed(s)
	if err != nil {
		return err
	}
	d := &s.Delivery
	_, err = t.exec(ctx, `INSERT INTO fhir_subscriptions (`+subscriptionColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)`,
		s.ID, s.OrgID, s.ClientID, string(s.Status), s.Criteria.Param, s.Criteria.OrgID, s.End, s.Error, s.Version, s.Updated,
		ch, d.Start, d.Cursor, sent, d.Failures, d.NextAttempt, d.Holder, d.HeldUntil, d.Version)
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("subscription %s: %w", s.ID, gateway.ErrConflict)
		}
		return fmt.Errorf("insert subscription %s: %w", s.ID, err)
	}
	return nil
}

func (t *tx) UpdateSubscription(ctx context.Context, s *gateway.Subscription) error {
	ch, sent, err := t.subscriptionSealed(s)
	if err != nil {
		return err
	}
	d := &s.Delivery
	n, err := t.exec(ctx, `UPDATE fhir_subscriptions SET client_id=$1, status=$2, criteria_param=$3, criteria_org=$4, end_at=$5,
		error=$6, version=$7, updated_at=$8, channel=$9, start_at=$10, cursor_at=$11, sent=$12, failures=$13, next_attempt=$14,
		holder=$15, held_until=$16, state_version=$17 WHERE id=$18`,
		s.ClientID, string(s.Status), s.Criteria.Param, s.Criteria.OrgID, s.End, s.Error, s.Version, s.Updated,
		ch, d.Start, d.Cursor, sent, d.Failures, d.NextAttempt, d.Holder, d.HeldUntil, d.Version, s.ID)
	if err != nil {
		return fmt.Errorf("update subscription %s: %w", s.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("subscription %s: %w", s.ID, gateway.ErrNotFound)
	}
	return nil
}

// subscriptionSealed returns the sealed channel and the Sent marks as stored.
func (t *tx) subscriptionSealed(s *gateway.Subscription) ([]byte, string, error) {
	ch, err := t.sealJSON(subscriptionAD(s.ID), subscriptionChannel{Reason: s.Reason, Endpoint: s.Endpoint, Payload: s.Payload, Header: s.Header})
	if err != nil {
		return nil, "", fmt.Errorf("subscription %s: %w", s.ID, err)
	}
	sent := "{}"
	if len(s.Delivery.Sent) > 0 {
		b, err := json.Marshal(s.Delivery.Sent)
		if err != nil {
			return nil, "", err
		}
		sent = string(b)
	}
	return ch, sent, nil
}

func (t *tx) Subscription(ctx context.Context, id string, lock bool) (*gateway.Subscription, error) {
	rows, err := t.query(ctx, `SELECT `+subscriptionColumns+` FROM fhir_subscriptions WHERE id=$1`+t.lock(lock), id)
	if err != nil {
		return nil, fmt.Errorf("subscription %s: %w", id, err)
	}
	subs, err := t.scanSubscriptions(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("subscription %s: %w", id, err)
	}
	if len(subs) == 0 {
		return nil, fmt.Errorf("subscription %s: %w", id, gateway.ErrNotFound)
	}
	return subs[0], nil
}

func (t *tx) ListSubscriptions(ctx context.Context, q gateway.SubscriptionQuery) ([]*gateway.Subscription, error) {
	var where []string
	var args []any
	if q.OrgID != "" {
		args = append(args, q.OrgID)
		where = append(where, fmt.Sprintf("org_id=$%d", len(args)))
	}
	if q.Status != "" {
		args = append(args, string(q.Status))
		where = append(where, fmt.Sprintf("status=$%d", len(args)))
	}
	sql := `SELECT ` + subscriptionColumns + ` FROM fhir_subscriptions`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := t.query(ctx, sql+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	subs, err := t.scanSubscriptions(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return subs, nil
}

func (t *tx) DeleteSubscription(ctx context.Context, id string) error {
	n, err := t.exec(ctx, `DELETE FROM fhir_subscriptions WHERE id=$1`, id)
	if err != nil {
		return fmt.Errorf("delete subscription %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("subscription %s: %w", id, gateway.ErrNotFound)
	}
	return nil
}

// matchSubscriptionsSQL is the match on a database without row-level
// security; with it, the other practice's subscriptions are not the
// acting practice's to read, and the database answers with their ids
// (gateway_referral_subscriptions, migration 031: the same match, on the
// stored referral, for a caller that is one of its practices).
const matchSubscriptionsSQL = `SELECT id FROM fhir_subscriptions WHERE status IN ('requested','active') AND org_id = criteria_org
	AND ((criteria_param='owner' AND criteria_org IN ($1,$2)) OR (criteria_param='requester' AND criteria_org=$3)) ORDER BY id`

// MatchSubscriptions reads ids only: nothing is unsealed in the
// transaction that stores a referral version.
func (t *tx) MatchSubscriptions(ctx context.Context, r *gateway.Referral) ([]string, error) {
	var rows Rows
	var err error
	if t.d.RowSecurity {
		rows, err = t.query(ctx, `SELECT id FROM gateway_referral_subscriptions($1) AS id`, r.ID)
	} else {
		rows, err = t.query(ctx, matchSubscriptionsSQL, r.ReceiverOrgID, r.ReceiverID, r.Requester.OrgID)
	}
	if err != nil {
		return nil, fmt.Errorf("match subscriptions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (t *tx) scanSubscriptions(ctx context.Context, rows Rows) ([]*gateway.Subscription, error) {
	type sealed struct {
		ch   []byte
		sent string
	}
	var (
		out  []*gateway.Subscription
		raws []sealed
	)
	for rows.Next() {
		s := &gateway.Subscription{}
		d := &s.Delivery
		var status string
		var raw sealed
		if err := rows.Scan(&s.ID, &s.OrgID, &s.ClientID, &status, &s.Criteria.Param, &s.Criteria.OrgID, dbTime{&s.End}, &s.Error,
			&s.Version, dbTime{&s.Updated}, &raw.ch, dbTime{&d.Start}, dbTime{&d.Cursor}, &raw.sent, &d.Failures,
			dbTime{&d.NextAttempt}, &d.Holder, dbTime{&d.HeldUntil}, &d.Version); err != nil {
			rows.Close()
			return nil, err
		}
		s.Status = gateway.SubscriptionStatus(status)
		out = append(out, s)
		raws = append(raws, raw)
	}
	err := rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	// Opened after the rows are read: opening may load a data key.
	for i, s := range out {
		plain, err := t.open(ctx, subscriptionAD(s.ID), raws[i].ch)
		if err != nil {
			return nil, fmt.Errorf("subscription %s: %w", s.ID, err)
		}
		var ch subscriptionChannel
		if err := json.Unmarshal(plain, &ch); err != nil {
			return nil, fmt.Errorf("subscription %s: channel: %w", s.ID, err)
		}
		s.Reason, s.Endpoint, s.Payload, s.Header = ch.Reason, ch.Endpoint, ch.Payload, ch.Header
		if err := json.Unmarshal([]byte(raws[i].sent), &s.Delivery.Sent); err != nil {
			return nil, fmt.Errorf("subscription %s: sent marks: %w", s.ID, err)
		}
		if len(s.Delivery.Sent) == 0 {
			s.Delivery.Sent = nil
		}
	}
	return out, nil
}
