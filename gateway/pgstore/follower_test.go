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

// TestFollowerLeavesSequencingToTheSequencer: a store that follows (a
// one-shot command's) appends audit events, reads and closes without ever
// holding the sequencer lock, sequencing or signing: another process takes
// the lock while it is open, and what it appended after that stays
// unsequenced when it closes, for the next sequencer.
func TestFollowerLeavesSequencingToTheSequencer(t *testing.T) {
	ctx := gateway.GatewayWide(context.Background(), "test-seed")
	follower, url := openFreshURL(t, sqlstore.QueueConfig{})
	skey, _, err := audit.GenerateSigningKey("gw.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(skey)
	follower.ConfigureAudit(sqlstore.AuditConfig{Signer: signer, Follower: true})
	appendEvent := func() {
		t.Helper()
		if err := follower.Update(ctx, func(tx gateway.Tx) error {
			return tx.Audit(ctx, audit.Event{Time: time.Now().UTC(), Actor: "system", Tenants: []string{"clinic-a"},
				Action: "test.event", Outcome: audit.OutcomeSuccess})
		}); err != nil {
			t.Fatal(err)
		}
	}
	unsequenced := func(s *sqlstore.Store) int {
		t.Helper()
		n, _, err := s.AuditUnsequenced(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	appendEvent()
	n := 0
	for _, err := range follower.AuditEntries(ctx, gateway.AuditQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if heads, err := follower.AuditHeads(ctx); err != nil || n != 0 || len(heads) != 0 {
		t.Fatalf("the follower's reads sequenced: %d entries, heads %v (%v)", n, heads, err)
	}
	if u := unsequenced(follower); u != 1 {
		t.Fatalf("%d events unsequenced, want 1", u)
	}

	// Another process becomes the sequencer while the follower is open.
	seqr, err := pgstore.Open(ctx, url, sqlstore.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if n, held, err := seqr.SequenceAudit(ctx); err != nil || !held || n != 1 {
		t.Fatalf("the sequencer beside the follower: sequenced %d, held %v: %v", n, held, err)
	}
	if err := seqr.Close(); err != nil {
		t.Fatal(err)
	}

	appendEvent()
	if err := follower.Close(); err != nil {
		t.Fatal(err)
	}
	next, err := pgstore.Open(ctx, url, sqlstore.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if u := unsequenced(next); u != 1 {
		t.Errorf("%d events unsequenced after the follower closed, want its last 1", u)
	}
	if at, err := next.LatestCheckpoint(ctx); err != nil || !at.IsZero() {
		t.Errorf("a checkpoint was signed (at %v, %v); the follower must sign none", at, err)
	}
}
