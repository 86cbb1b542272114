package storetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/audit/witness"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// superuser runs q as someone who owns the database: with the append-only
// triggers off (PostgreSQL: session_replication_role; SQLite: dropped).
func superuser(t *testing.T, s gateway.Store, q string, args ...any) {
	t.Helper()
	b := s.(*sqlstore.Store).Backend()
	d := b.Dialect()
	tx, err := b.Begin(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if d.Name == "postgres" {
		if _, err := tx.Exec(t.Context(), `SET LOCAL session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
	} else {
		rows, err := tx.Query(t.Context(), `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit%'`)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		rows.Close()
		for _, n := range names {
			if _, err := tx.Exec(t.Context(), `DROP TRIGGER `+n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := tx.Exec(t.Context(), d.Rebind(q), d.Args(args)...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// canOwn reports whether the harness's stores connect with the power to
// edit the trail behind the store's back (a PostgreSQL superuser; SQLite's
// file owner always can).
func canOwn(t *testing.T, h Harness) bool {
	t.Helper()
	s := h.Open(t)
	b := s.(*sqlstore.Store).Backend()
	if b.Dialect().Name != "postgres" {
		return true
	}
	tx, err := b.Begin(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	var super bool
	if err := tx.QueryRow(t.Context(), `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	return super
}

// witnessedEnv is an env whose store signs its trees and hands every
// checkpoint to an append-only directory witness, with two published
// rounds (so the witness holds checkpoints at two sizes per practice).
func witnessedEnv(t *testing.T, h Harness) *env {
	t.Helper()
	e := newEnv(t, h, Behavior{}, Behavior{})
	skey, vkey, err := audit.GenerateSigningKey("gw.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(skey)
	v, _ := audit.NewVerifier(vkey)
	w, err := witness.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := e.store.(*sqlstore.Store)
	st.ConfigureAudit(sqlstore.AuditConfig{Signer: signer, Witnesses: []audit.Witness{w}})
	e.svc.SetAuditVerifier(gateway.AuditVerifier{Key: v, Witnesses: []audit.Witness{w}})
	for range 2 {
		e.create(referral())
		if _, err := st.PublishAudit(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := e.svc.VerifyAudit(e.ctx)
	if err != nil || !rep.OK() || rep.Checkpoints < 4 || rep.Unsequenced != 0 {
		t.Fatalf("fresh witnessed trail: %+v, %v", rep, err)
	}
	return e
}

// testWitnessedTamper: what someone who owns the database can do to the
// trail, each time with the checkpoints in the database deleted too, and
// the practice and seq verification names.
func testWitnessedTamper(t *testing.T, h Harness) {
	if !canOwn(t, h) {
		t.Skip("the store runs as a role that cannot edit the trail behind its back (the point of the app role); the owner's run covers this")
	}
	cases := []struct {
		name    string
		tamper  func(t *testing.T, e *env)
		seq     int64
		because string
	}{
		{"changed row", func(t *testing.T, e *env) {
			superuser(t, e.store, `UPDATE audit_log SET actor = 'user:mallory' WHERE tenant = 'clinic-a' AND seq = 3`)
		}, 3, "hash mismatch"},
		{"deleted row", func(t *testing.T, e *env) {
			superuser(t, e.store, `DELETE FROM audit_log WHERE tenant = 'clinic-a' AND seq = 3`)
		}, 4, "sequence gap: expected seq 3"},
		{"truncated tail", func(t *testing.T, e *env) {
			superuser(t, e.store, `DELETE FROM audit_log WHERE tenant = 'clinic-a' AND seq > 4`)
			superuser(t, e.store, `DELETE FROM audit_events`)
		}, 5, "truncated"},
		{"rewritten and re-chained", func(t *testing.T, e *env) {
			rechain(t, e, "clinic-a", 3)
		}, 1, "rewritten"},
		{"deleted practice", func(t *testing.T, e *env) {
			superuser(t, e.store, `DELETE FROM audit_log WHERE tenant = 'clinic-a'`)
			superuser(t, e.store, `DELETE FROM audit_tree_nodes WHERE tenant = 'clinic-a'`)
			superuser(t, e.store, `DELETE FROM audit_events`)
		}, 1, "practice deleted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := witnessedEnv(t, h)
			c.tamper(t, e)
			superuser(t, e.store, `DELETE FROM audit_signed_heads`)
			rep, err := e.svc.VerifyAudit(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Breaks) != 1 {
				t.Fatalf("breaks %+v, want one (clinic-a)", rep.Breaks)
			}
			b := rep.Breaks[0]
			if b.Tenant != "clinic-a" || b.Seq != c.seq || !strings.Contains(b.Reason, c.because) {
				t.Errorf("break %+v, want clinic-a seq %d (%s)", b, c.seq, c.because)
			}
		})
	}
}

// rechain rewrites entry seq of tenant and recomputes every later hash,
// as someone without the signing key but with the database can: the chain
// verifies on its own.
func rechain(t *testing.T, e *env, tenant string, seq int64) {
	t.Helper()
	var chain []audit.Entry
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, en)
	}
	superuser(t, e.store, `DELETE FROM audit_log WHERE tenant = $1 AND seq >= $2`, tenant, seq)
	prev := chain[seq-2]
	for _, old := range chain[seq-1:] {
		ev := audit.Event{Time: old.Time, Actor: old.Actor, ReferralID: old.ReferralID, Action: old.Action, Outcome: old.Outcome, Detail: old.Detail}
		if old.Seq == seq {
			ev.Actor = "user:mallory"
		}
		n := audit.NewEntry(tenant, prev.Seq, prev.Hash, ev)
		superuser(t, e.store, `INSERT INTO audit_log (tenant, seq, at, actor, referral_id, action, outcome, detail, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, n.Tenant, n.Seq, n.Time, n.Actor, n.ReferralID, n.Action, n.Outcome,
			detailJSON(n.Detail), n.PrevHash, n.Hash)
		prev = n
	}
	if rep, err := audit.Verify(e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: tenant})); err != nil || !rep.OK() {
		t.Fatalf("the re-chained trail should verify as a chain: %+v, %v", rep, err)
	}
}

func detailJSON(d map[string]string) string {
	b, _ := json.Marshal(d) // a map of strings always marshals
	return string(b)
}

// testSequencerBatches: more events than one sequencing batch, in one
// transaction, each sequenced exactly once and in order.
func testSequencerBatches(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	before := e.verify()
	const n = 1234
	err := e.store.Update(e.ctx, func(tx gateway.Tx) error {
		for i := range n {
			tenants := []string{"clinic-a"}
			if i%2 == 0 {
				tenants = append(tenants, "cardio-b")
			}
			if err := tx.Audit(e.ctx, audit.Event{Time: e.clock.Now(), Actor: "system", Tenants: tenants,
				Action: "test.batch", Outcome: audit.OutcomeSuccess}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after := e.verify()
	if want := before.Entries + n + n/2; after.Entries != want || !after.OK() {
		t.Fatalf("entries %d → %d (intact %v), want %d", before.Entries, after.Entries, after.OK(), want)
	}
	if n, _, err := e.store.AuditUnsequenced(e.ctx); err != nil || n != 0 {
		t.Fatalf("unsequenced %d, %v", n, err)
	}
}
