package gateway

import (
	"context"
	"fmt"

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
