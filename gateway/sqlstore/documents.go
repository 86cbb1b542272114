package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// documentAD binds a sealed document body to its kind and id. Every edge
// document is sealed: several hold PHI or secrets (the Direct inbox,
// kept FHIR resources, TOTP secrets, Subscription channel headers).
func documentAD(kind, id string) []byte { return gateway.RowAD("document", kind, id) }

func (t *tx) PutDocument(ctx context.Context, d gateway.Document) error {
	body, err := t.seal(documentAD(d.Kind, d.ID), d.Body)
	if err != nil {
		return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
	}
	n, err := t.exec(ctx, `INSERT INTO documents (kind, id, version, updated_at, expires_at, doc) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (kind, id) DO UPDATE SET version=excluded.version, updated_at=excluded.updated_at,
		expires_at=excluded.expires_at, doc=excluded.doc WHERE documents.version = excluded.version - 1`,
		d.Kind, d.ID, d.Version, d.Updated, d.Expires, body)
	if err != nil {
		return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("document %s/%s changed concurrently: %w", d.Kind, d.ID, gateway.ErrConflict)
	}
	return nil
}

func (t *tx) InsertDocument(ctx context.Context, d gateway.Document) (bool, error) {
	body, err := t.seal(documentAD(d.Kind, d.ID), d.Body)
	if err != nil {
		return false, fmt.Errorf("insert document %s/%s: %w", d.Kind, d.ID, err)
	}
	n, err := t.exec(ctx, `INSERT INTO documents (kind, id, version, updated_at, expires_at, doc) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (kind, id) DO NOTHING`, d.Kind, d.ID, d.Version, d.Updated, d.Expires, body)
	if err != nil {
		return false, fmt.Errorf("insert document %s/%s: %w", d.Kind, d.ID, err)
	}
	return n == 1, nil
}

func (t *tx) Document(ctx context.Context, kind, id string) (gateway.Document, error) {
	d := gateway.Document{Kind: kind, ID: id}
	var body []byte
	err := t.queryRow(ctx, `SELECT version, updated_at, expires_at, doc FROM documents WHERE kind=$1 AND id=$2`, kind, id).
		Scan(&d.Version, dbTime{&d.Updated}, dbTime{&d.Expires}, &body)
	if err != nil {
		return d, fmt.Errorf("document %s/%s: %w", kind, id, err)
	}
	if d.Body, err = t.open(ctx, documentAD(kind, id), body); err != nil {
		return d, fmt.Errorf("document %s/%s: %w", kind, id, err)
	}
	return d, nil
}

func (t *tx) Documents(ctx context.Context, kind string, now time.Time) ([]gateway.Document, error) {
	rows, err := t.query(ctx, `SELECT id, version, updated_at, expires_at, doc FROM documents
		WHERE kind=$1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id`, kind, now)
	if err != nil {
		return nil, fmt.Errorf("documents %s: %w", kind, err)
	}
	var out []gateway.Document
	for rows.Next() {
		d := gateway.Document{Kind: kind}
		if err := rows.Scan(&d.ID, &d.Version, dbTime{&d.Updated}, dbTime{&d.Expires}, &d.Body); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, d)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("documents %s: %w", kind, err)
	}
	// Opened after the rows are read: opening may load a data key.
	for i := range out {
		if out[i].Body, err = t.open(ctx, documentAD(kind, out[i].ID), out[i].Body); err != nil {
			return nil, fmt.Errorf("document %s/%s: %w", kind, out[i].ID, err)
		}
	}
	return out, nil
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
