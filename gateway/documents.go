package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/referralgw/gateway/audit"
)

// Document reads a small record an edge keeps through the core (the admin
// face's accounts and sessions).
func (s *Service) Document(ctx context.Context, kind, id string) (Document, error) {
	var d Document
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		d, err = tx.Document(ctx, kind, id)
		return err
	})
	if err != nil {
		return Document{}, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return d, nil
}

// PutDocument inserts d (Version 1) or updates it (Version = stored + 1,
// ErrConflict otherwise): a caller that read a document and writes it back
// retries on ErrConflict.
func (s *Service) PutDocument(ctx context.Context, d Document) error {
	return s.store.Update(ctx, func(tx Tx) error { return tx.PutDocument(ctx, d) })
}

// InsertDocument stores d unless a document of its kind and id exists, in
// which case it reports false and changes nothing. ev, when set, is
// appended to the trail in the same transaction.
func (s *Service) InsertDocument(ctx context.Context, d Document, ev *audit.Event) (bool, error) {
	var inserted bool
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if inserted, err = tx.InsertDocument(ctx, d); err != nil || !inserted || ev == nil {
			return err
		}
		if ev.Time.IsZero() {
			ev.Time = s.clock.Now()
		}
		return tx.Audit(ctx, *ev)
	})
	return inserted, err
}

// DeleteDocument removes one document (ErrNotFound when there is none).
func (s *Service) DeleteDocument(ctx context.Context, kind, id string) error {
	return s.store.Update(ctx, func(tx Tx) error { return tx.DeleteDocument(ctx, kind, id) })
}

// Documents lists a kind's documents in id order, skipping expired ones.
func (s *Service) Documents(ctx context.Context, kind string) ([]Document, error) {
	var out []Document
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Documents(ctx, kind, s.clock.Now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s documents: %w", kind, err)
	}
	return out, nil
}

// ChangeDocument reads a document (ErrNotFound is passed to change as the
// error, with a zero Document), lets change return the next state and the
// audit event that goes with it, and stores both in one transaction. The
// next state's Version is set here: 1 for a new document, stored + 1
// otherwise. change returning an error changes nothing.
func (s *Service) ChangeDocument(ctx context.Context, kind, id string, change func(cur Document, err error) (Document, *audit.Event, error)) (Document, error) {
	var out Document
	err := s.store.Update(ctx, func(tx Tx) error {
		cur, err := tx.Document(ctx, kind, id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		next, ev, err := change(cur, err)
		if err != nil {
			return err
		}
		next.Kind, next.ID, next.Version = kind, id, cur.Version+1
		if next.Updated.IsZero() {
			next.Updated = s.clock.Now()
		}
		if err := tx.PutDocument(ctx, next); err != nil {
			return err
		}
		out = next
		if ev == nil {
			return nil
		}
		if ev.Time.IsZero() {
			ev.Time = s.clock.Now()
		}
		return tx.Audit(ctx, *ev)
	})
	return out, err
}

// DocumentTx is the part of a transaction an edge uses for the documents
// it keeps: read and write them, queue its jobs, append to the trail.
type DocumentTx interface {
	Document(ctx context.Context, kind, id string) (Document, error)
	Documents(ctx context.Context, kind string, now time.Time) ([]Document, error)
	PutDocument(ctx context.Context, d Document) error
	InsertDocument(ctx context.Context, d Document) (bool, error)
	DeleteDocument(ctx context.Context, kind, id string) error
	Enqueue(ctx context.Context, j Job) error
	Audit(ctx context.Context, ev audit.Event) error
}

// UpdateDocuments runs fn in a read-write transaction limited to
// documents, jobs and the trail, and commits when fn returns nil: an edge
// changes several of its documents together.
func (s *Service) UpdateDocuments(ctx context.Context, fn func(DocumentTx) error) error {
	return s.store.Update(ctx, func(tx Tx) error { return fn(tx) })
}

// ViewDocuments runs fn in a read-only transaction over documents.
func (s *Service) ViewDocuments(ctx context.Context, fn func(DocumentTx) error) error {
	return s.store.View(ctx, func(tx Tx) error { return fn(tx) })
}
