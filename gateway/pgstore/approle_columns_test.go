package pgstore_test

import (
	"context"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// TestPracticeColumnsCannotLie checks the practice columns that the rows
// hanging off a referral, a delivery or a received message carry for
// row-level security (migrations 018 and 021): they are filled from the parent when
// a writer leaves them out, and no writer, a practice or the gateway-wide
// path, can store a row whose columns disagree with its parent's, insert
// one under a parent it does not see, or move one to another practice.
func TestPracticeColumnsCannotLie(t *testing.T) {
	w := newWorld(t)
	asA := gateway.WithPractice(w.ctx, "north")
	all := gateway.GatewayWide(w.ctx, "test-columns")

	// exec runs q in its own transaction of ctx's scope and rolls back.
	exec := func(ctx context.Context, q string, args ...any) (int64, error) {
		t.Helper()
		btx, err := w.s.Backend().Begin(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer btx.Rollback(ctx)
		return btx.Exec(ctx, q, args...)
	}

	// Filled from the parent: every child row's columns equal its parent's.
	for _, q := range []string{
		`SELECT count(*) FROM referral_versions c JOIN referrals p ON p.id = c.referral_id
			WHERE c.requester_org <> p.requester_org OR c.receiver_org <> p.receiver_org`,
		`SELECT count(*) FROM record_contents c JOIN referrals p ON p.id = c.referral_id
			WHERE c.requester_org <> p.requester_org OR c.receiver_org <> p.receiver_org`,
		`SELECT count(*) FROM deliveries c JOIN referrals p ON p.id = c.referral_id
			WHERE c.requester_org <> p.requester_org OR c.receiver_org <> p.receiver_org`,
		`SELECT count(*) FROM receipt_keys c JOIN deliveries p ON p.id = c.delivery_id
			WHERE c.requester_org <> p.requester_org OR c.receiver_org <> p.receiver_org`,
		`SELECT count(*) FROM inbound_notices c JOIN inbound_messages p ON p.id = c.inbound_id WHERE c.tenant <> p.tenant`,
	} {
		btx, err := w.s.Backend().Begin(all, true)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = btx.QueryRow(all, q).Scan(&n)
		btx.Rollback(all)
		if err != nil || n != 0 {
			t.Errorf("%s: %d rows disagree with their parent (%v)", q, n, err)
		}
	}
	if got := w.count(t, all, "referral_versions", "referral_id = $1 AND requester_org = 'south' AND receiver_org = 'east'",
		w.refB.ID); got == 0 {
		t.Errorf("south's referral has no versions carrying its practices")
	}

	now := w.clock.Now()
	lies := []struct {
		name string
		ctx  context.Context
		q    string
		args []any
	}{
		// South's referral under north's columns: the foreign key refuses.
		{"gateway-wide version with another referral's practices", all,
			`INSERT INTO referral_versions (referral_id, version, updated_at, doc, requester_org, receiver_org)
			VALUES ($1, 99, $2, '\x00', 'north', 'east')`, []any{w.refB.ID, now}},
		{"north's version on south's referral with north's columns", asA,
			`INSERT INTO referral_versions (referral_id, version, updated_at, doc, requester_org, receiver_org)
			VALUES ($1, 99, $2, '\x00', 'north', 'east')`, []any{w.refB.ID, now}},
		// South's real columns: the policy refuses north.
		{"north's delivery on south's referral with south's columns", asA,
			`INSERT INTO deliveries (id, referral_id, channel, state, updated_at, doc, requester_org, receiver_org)
			VALUES ('d-lie', $1, 'fax', 'queued', $2, '\x00', 'south', 'east')`, []any{w.refB.ID, now}},
		// No columns: the trigger does not see south's referral.
		{"north's record content on south's referral", asA,
			`INSERT INTO record_contents (referral_id, record_id, content_type, sha256, size, sealed)
			VALUES ($1, 'rec-lie', 'text/plain', '00', 1, '\x00')`, []any{w.refB.ID}},
		{"north's receipt key on south's delivery", asA,
			`INSERT INTO receipt_keys (delivery_id, key, received_at, expires_at) VALUES ($1, 'k-lie', $2, $2)`,
			[]any{w.dB.ID, now}},
		{"north's notice on south's message", asA,
			`INSERT INTO inbound_notices (id, inbound_id, state, created_at, updated_at, doc)
			VALUES ('notice-lie', 'in-south', 'queued', now(), now(), '{}')`, nil},
		// Moving a row: the key ties the columns to the parent.
		{"gateway-wide move of north's delivery to south", all,
			`UPDATE deliveries SET requester_org = 'south' WHERE id = $1`, []any{w.dA.ID}},
		{"gateway-wide move of north's versions to south", all,
			`UPDATE referral_versions SET requester_org = 'south' WHERE referral_id = $1`, []any{w.refA.ID}},
		{"gateway-wide move of north's receipt key to south", all,
			`UPDATE receipt_keys SET requester_org = 'south' WHERE delivery_id = $1`, []any{w.dA.ID}},
		{"gateway-wide move of north's notice to south", all,
			`UPDATE inbound_notices SET tenant = 'south' WHERE inbound_id = 'in-north'`, nil},
		{"gateway-wide change of a referral's receiver under its rows", all,
			`UPDATE referrals SET receiver_org = 'north' WHERE id = $1`, []any{w.refB.ID}},
		{"gateway-wide move of a delivery to another referral", all,
			`UPDATE deliveries SET referral_id = $2 WHERE id = $1`, []any{w.dA.ID, w.refB.ID}},
		{"north's move of its record content to south", asA,
			`UPDATE record_contents SET requester_org = 'south' WHERE referral_id = $1`, []any{w.refA.ID}},
	}
	for _, l := range lies {
		if n, err := exec(l.ctx, l.q, l.args...); err == nil {
			t.Errorf("%s: succeeded (%d rows)", l.name, n)
		}
	}

	// Columns left out are filled from the parent the writer sees.
	btx, err := w.s.Backend().Begin(asA, false)
	if err != nil {
		t.Fatal(err)
	}
	defer btx.Rollback(asA)
	if _, err := btx.Exec(asA, `INSERT INTO deliveries (id, referral_id, channel, state, updated_at, doc)
		VALUES ('d-filled', $1, 'fax', 'queued', $2, '\x00')`, w.refA.ID, now); err != nil {
		t.Fatalf("north's delivery on its own referral: %v", err)
	}
	var req, recv string
	if err := btx.QueryRow(asA, `SELECT requester_org, receiver_org FROM deliveries WHERE id = 'd-filled'`).Scan(&req, &recv); err != nil ||
		req != "north" || recv != "east" {
		t.Errorf("filled delivery carries %q → %q (%v), want north → east", req, recv, err)
	}
}
