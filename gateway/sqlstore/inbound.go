package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/referralgw/gateway/gateway"
)

// ---- received messages and the notices we send about them

// inboundDoc is m's metadata as stored: the summary is sealed apart.
func inboundDoc(m *gateway.InboundMessage) (string, error) {
	c := *m
	c.Summary = nil
	b, err := json.Marshal(&c)
	return string(b), err
}

func inboundTenant(m *gateway.InboundMessage) string {
	if len(m.Tenants) > 0 {
		return m.Tenants[0]
	}
	return gateway.UnknownInboundTenant
}

func (t *tx) InsertInbound(ctx context.Context, m *gateway.InboundMessage, rawSealed, summarySealed []byte) error {
	doc, err := inboundDoc(m)
	if err != nil {
		return err
	}
	var sum any
	if len(summarySealed) > 0 {
		sum = summarySealed
	}
	_, err = t.exec(ctx, `INSERT INTO inbound_messages (id, channel, received_at, sender, message_id, content_hash, state,
		tenant, referral_id, version, updated_at, doc, raw_sealed, summary_sealed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
		m.ID, string(m.Channel), m.Received, m.MailFrom, m.MessageID, m.ContentHash, string(m.State), inboundTenant(m),
		nullable(m.ReferralID), m.Version, m.Updated, doc, rawSealed, sum)
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("inbound message %s: %w", m.ID, gateway.ErrConflict)
		}
		return fmt.Errorf("insert inbound message: %w", err)
	}
	return nil
}

func (t *tx) UpdateInbound(ctx context.Context, m *gateway.InboundMessage, summarySealed []byte) error {
	doc, err := inboundDoc(m)
	if err != nil {
		return err
	}
	var sum any
	if len(summarySealed) > 0 {
		sum = summarySealed
	}
	n, err := t.exec(ctx, `UPDATE inbound_messages SET state=$1, tenant=$2, referral_id=$3, version=$4, updated_at=$5, doc=$6,
		summary_sealed=COALESCE($7, summary_sealed) WHERE id=$8 AND version=$9`,
		string(m.State), inboundTenant(m), nullable(m.ReferralID), m.Version, m.Updated, doc, sum, m.ID, m.Version-1)
	if err != nil {
		return fmt.Errorf("update inbound message %s: %w", m.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("inbound message %s changed concurrently: %w", m.ID, gateway.ErrConflict)
	}
	return nil
}

func scanInbound(row interface{ Scan(...any) error }) (*gateway.InboundMessage, error) {
	var doc string
	if err := row.Scan(&doc); err != nil {
		return nil, err
	}
	var m gateway.InboundMessage
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return nil, fmt.Errorf("decode inbound message: %w", err)
	}
	return &m, nil
}

func (t *tx) Inbound(ctx context.Context, id string, lock bool) (*gateway.InboundMessage, error) {
	m, err := scanInbound(t.queryRow(ctx, `SELECT doc FROM inbound_messages WHERE id=$1`+t.lock(lock), id))
	if err != nil {
		return nil, fmt.Errorf("inbound message %s: %w", id, err)
	}
	return m, nil
}

func (t *tx) InboundSealed(ctx context.Context, id string) (raw, summary []byte, err error) {
	if err := t.queryRow(ctx, `SELECT raw_sealed, summary_sealed FROM inbound_messages WHERE id=$1`, id).Scan(&raw, &summary); err != nil {
		return nil, nil, fmt.Errorf("inbound message %s: %w", id, err)
	}
	return raw, summary, nil
}

func (t *tx) InboundByHash(ctx context.Context, channel gateway.ChannelKind, hash string) (*gateway.InboundMessage, error) {
	m, err := scanInbound(t.queryRow(ctx, `SELECT doc FROM inbound_messages WHERE channel=$1 AND content_hash=$2`, string(channel), hash))
	if err != nil {
		return nil, fmt.Errorf("inbound message with hash %s: %w", hash, err)
	}
	return m, nil
}

func (t *tx) InboundByMessageID(ctx context.Context, channel gateway.ChannelKind, sender, messageID string) (*gateway.InboundMessage, error) {
	m, err := scanInbound(t.queryRow(ctx, `SELECT doc FROM inbound_messages WHERE channel=$1 AND sender=$2 AND message_id=$3
		AND message_id <> '' ORDER BY CASE WHEN state IN ('quarantined', 'rejected') THEN 1 ELSE 0 END, id LIMIT 1`, string(channel), sender, messageID))
	if err != nil {
		return nil, fmt.Errorf("inbound message %s from %s: %w", messageID, sender, err)
	}
	return m, nil
}

func (t *tx) ListInbound(ctx context.Context, q gateway.InboundQuery) ([]*gateway.InboundMessage, error) {
	where, args := "1=1", []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where += fmt.Sprintf(" AND "+cond, len(args))
	}
	if q.Tenant != "" {
		add("tenant=$%d", q.Tenant)
	}
	if q.State != "" {
		add("state=$%d", string(q.State))
	}
	if q.BeforeID != "" {
		add("id<$%d", q.BeforeID)
	}
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := t.query(ctx, fmt.Sprintf(`SELECT doc FROM inbound_messages WHERE %s ORDER BY id DESC LIMIT $%d`, where, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list inbound messages: %w", err)
	}
	defer rows.Close()
	var out []*gateway.InboundMessage
	for rows.Next() {
		m, err := scanInbound(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) PutNotice(ctx context.Context, n *gateway.Notice) error {
	doc, err := json.Marshal(n)
	if err != nil {
		return err
	}
	var wire any
	if n.Wire != nil {
		wire = n.Wire
	}
	_, err = t.exec(ctx, `INSERT INTO inbound_notices (id, inbound_id, state, created_at, updated_at, doc, wire)
		VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (id) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at,
		doc=excluded.doc, wire=COALESCE(excluded.wire, inbound_notices.wire)`,
		n.ID, n.InboundID, n.State, n.Created, n.Updated, string(doc), wire)
	if err != nil {
		return fmt.Errorf("put notice %s: %w", n.ID, err)
	}
	return nil
}

func scanNotice(row interface{ Scan(...any) error }) (*gateway.Notice, error) {
	var (
		doc  string
		wire []byte
	)
	if err := row.Scan(&doc, &wire); err != nil {
		return nil, err
	}
	var n gateway.Notice
	if err := json.Unmarshal([]byte(doc), &n); err != nil {
		return nil, fmt.Errorf("decode notice: %w", err)
	}
	n.Wire = wire
	return &n, nil
}

func (t *tx) Notice(ctx context.Context, id string, lock bool) (*gateway.Notice, error) {
	n, err := scanNotice(t.queryRow(ctx, `SELECT doc, wire FROM inbound_notices WHERE id=$1`+t.lock(lock), id))
	if err != nil {
		return nil, fmt.Errorf("notice %s: %w", id, err)
	}
	return n, nil
}

func (t *tx) Notices(ctx context.Context, inboundID string) ([]*gateway.Notice, error) {
	rows, err := t.query(ctx, `SELECT doc, wire FROM inbound_notices WHERE inbound_id=$1 ORDER BY created_at, id`, inboundID)
	if err != nil {
		return nil, fmt.Errorf("notices of %s: %w", inboundID, err)
	}
	defer rows.Close()
	var out []*gateway.Notice
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
