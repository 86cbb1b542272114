package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/referralgw/gateway/gateway"
)

func (t *tx) PutDocument(ctx context.Context, d gateway.Document) error {
	n, err := t.exec(ctx, `INSERT INTO documents (kind, id, version, updated_at, expires_at, doc) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (kind, id) DO UPDATE SET version=excluded.version, updated_at=excluded.updated_at,
		expires_at=excluded.expires_at, doc=excluded.doc WHERE documents.version = excluded.version - 1`,
		d.Kind, d.ID, d.Version, d.Updated, d.Expires, string(d.Body))
	if err != nil {
		return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("document %s/%s changed concurrently: %w", d.Kind, d.ID, gateway.ErrConflict)
	}
	return nil
}

func (t *tx) InsertDocument(ctx context.Context, d gateway.Document) (bool, error) {
	n, err := t.exec(ctx, `INSERT INTO documents (kind, id, version, updated_at, expires_at, doc) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (kind, id) DO NOTHING`, d.Kind, d.ID, d.Version, d.Updated, d.Expires, string(d.Body))
	if err != nil {
		return false, fmt.Errorf("insert document %s/%s: %w", d.Kind, d.ID, err)
	}
	return n == 1, nil
}

func (t *tx) Document(ctx context.Context, kind, id string) (gateway.Document, error) {
	d := gateway.Document{Kind: kind, ID: id}
	var body string
	err := t.queryRow(ctx, `SELECT version, updated_at, expires_at, doc FROM documents WHERE kind=$1 AND id=$2`, kind, id).
		Scan(&d.Version, dbTime{&d.Updated}, dbTime{&d.Expires}, &body)
	if err != nil {
		return d, fmt.Errorf("document %s/%s: %w", kind, id, err)
	}
	d.Body = []byte(body)
	return d, nil
}

func (t *tx) Documents(ctx context.Context, kind string, now time.Time) ([]gateway.Document, error) {
	rows, err := t.query(ctx, `SELECT id, version, updated_at, expires_at, doc FROM documents
		WHERE kind=$1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id`, kind, now)
	if err != nil {
		return nil, fmt.Errorf("documents %s: %w", kind, err)
	}
	defer rows.Close()
	var out []gateway.Document
	for rows.Next() {
		d := gateway.Document{Kind: kind}
		var body string
		if err := rows.Scan(&d.ID, &d.Version, dbTime{&d.Updated}, dbTime{&d.Expires}, &body); err != nil {
			return nil, err
		}
		d.Body = []byte(body)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (t *tx) DeleteDocument(ctx context.Context, kind, id string) error {
	n, err := t.exec(ctx, `DELETE FROM documents WHERE kind=$1 AND id=$2`, kind, id)
	if err != nil {
		return fmt.Errorf("delete document %s/%s: %w", kind, id, err)
	}
	if n == 0 {
		return fmt.Errorf("document %s/%s: %w", kind, id, gateway.ErrNotFound)
	}
	return nil
}

func (t *tx) DeleteExpiredDocuments(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := t.exec(ctx, `DELETE FROM documents WHERE (kind, id) IN
		(SELECT kind, id FROM documents WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)`, now, limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired documents: %w", err)
	}
	return int(n), nil
}
