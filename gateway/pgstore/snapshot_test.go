package pgstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestViewReadsOneSnapshot: every statement of a read sees the database as
// its first statement saw it. A commit made by another transaction while
// the read is open is not half seen (a referral read before it and its
// deliveries read after it, a version the referral never had with them).
func TestViewReadsOneSnapshot(t *testing.T) {
	s := OpenFresh(t, storetest.FastQueue())
	ctx := gateway.GatewayWide(t.Context(), gateway.PathDirectory)
	put := func(id string) {
		t.Helper()
		if err := s.Update(ctx, func(tx gateway.Tx) error {
			return tx.PutEntry(ctx, &gateway.Entry{ID: id, Kind: gateway.KindOrganization, Name: "Snapshot Clinic (synthetic)", Updated: time.Now()})
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("org-first")
	err := s.View(ctx, func(tx gateway.Tx) error {
		if _, err := tx.Entry(ctx, "org-first"); err != nil {
			return err
		}
		put("org-second") // committed on another connection while the read is open
		if e, err := tx.Entry(ctx, "org-second"); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("the read saw a commit made after its first statement: %+v %v", e, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A read begun after the commit sees it.
	if err := s.View(ctx, func(tx gateway.Tx) error { _, err := tx.Entry(ctx, "org-second"); return err }); err != nil {
		t.Fatalf("a later read: %v", err)
	}
}
