package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// TestSequencerTakeoverSignsWhatWasNotPublished: events sequenced by a
// process that never signed their checkpoint (it died, or its publication
// failed) are signed by the next process to take the sequencer lock,
// though nothing new is logged for that practice.
func TestSequencerTakeoverSignsWhatWasNotPublished(t *testing.T) {
	ctx := gateway.GatewayWide(context.Background(), "test-seed")
	first, url := openFreshURL(t, sqlstore.QueueConfig{})
	if err := first.Update(ctx, func(tx gateway.Tx) error {
		return tx.Audit(ctx, audit.Event{Time: time.Now().UTC(), Actor: "system", Tenants: []string{"quiet-practice"},
			Action: "test.event", Outcome: audit.OutcomeSuccess})
	}); err != nil {
		t.Fatal(err)
	}
	if n, held, err := first.SequenceAudit(ctx); err != nil || !held || n != 1 {
		t.Fatalf("first process sequenced %d (held %v): %v", n, held, err)
	}
	if err := first.Close(); err != nil { // no signer: nothing published
		t.Fatal(err)
	}

	next, err := pgstore.Open(ctx, url, sqlstore.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	skey, _, err := audit.GenerateSigningKey("gw.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(skey)
	next.ConfigureAudit(sqlstore.AuditConfig{Signer: signer})
	n, err := next.PublishAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("the next sequencer signed %d checkpoints, want the quiet practice's 1", n)
	}
	if at, err := next.LatestCheckpoint(ctx); err != nil || at.IsZero() {
		t.Fatalf("no stored checkpoint after takeover (%v, %v)", at, err)
	}
}
