package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The documents table (Tx.Document and friends) holds the small records
// the core keeps for its edges: SMART client registrations and used
// assertion ids (smartclients.go), console accounts and sessions
// (console.go), each behind typed Service methods, and how many rounds of
// each periodic job kind started (docRound, periodic.go). An edge never
// reads or writes a document directly. Kinds in use:
const (
	docSMARTClient    = "smart-client"
	docSMARTAssertion = "smart-jti"
	docConsoleAccount = "admin.account"
	docConsoleSession = "admin.session"
)

// getDoc reads the document kind/id and decodes its JSON body into v,
// returning the stored version (ErrNotFound when there is none).
func getDoc(ctx context.Context, tx Tx, kind, id string, v any) (int, error) {
	d, err := tx.Document(ctx, kind, id)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(d.Body, v); err != nil {
		return 0, fmt.Errorf("stored %s %s: %w", kind, id, err)
	}
	return d.Version, nil
}

// putDoc encodes v and stores it as version of kind/id: version 1 inserts,
// a higher one replaces version-1 (ErrConflict when the stored version is
// another).
func putDoc(ctx context.Context, tx Tx, kind, id string, version int, updated, expires time.Time, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", kind, id, err)
	}
	return tx.PutDocument(ctx, Document{Kind: kind, ID: id, Version: version, Updated: updated, Expires: expires, Body: body})
}

// deleteDoc removes kind/id; a missing one is not an error.
func deleteDoc(ctx context.Context, tx Tx, kind, id string) error {
	if err := tx.DeleteDocument(ctx, kind, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
