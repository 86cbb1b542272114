package pgstore_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// appendEvents appends n events to tenant's chain through the store and
// sequences them.
func appendEvents(t *testing.T, s *sqlstore.Store, tenant string, n int) {
	t.Helper()
	ctx := t.Context()
	for i := 0; i < n; i++ {
		err := s.Update(ctx, func(tx gateway.Tx) error {
			return tx.Audit(ctx, audit.Event{Time: time.Now(), Actor: "system", Tenants: []string{tenant},
				Action: "test.appended", Outcome: audit.OutcomeSuccess})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, held, err := s.SequenceAudit(ctx); err != nil || !held {
		t.Fatalf("sequence: lock held %v, %v", held, err)
	}
}

// attackerExec runs one statement as the app role in a transaction of its
// own, with the settings the attacker chose (a practice, a gateway-wide
// path: the role may set both), and returns the statement's error.
func attackerExec(t *testing.T, conn *pgx.Conn, practice, scope, sql string, args ...any) error {
	t.Helper()
	ctx := t.Context()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT set_config('gateway.practice', $1, true), set_config('gateway.scope', $2, true)`, practice, scope); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// TestAppRoleCannotPoisonTheAuditTree: the application role appends tree
// nodes (the sequencer runs as it), so it could write a node ahead of the
// sequencer, at a place the tree has not reached yet. The sequencer's own
// insert of that node then did nothing (ON CONFLICT DO NOTHING), and the
// next process to take the sequencer lock rebuilt its tree edge from the
// forged node: it signed roots the rows do not have (the witnesses refuse
// them, so nothing new was witnessed any more) and served inclusion proofs
// that do not verify. The database now refuses a node that is not the hash
// of its two children, and a signed head for a size the chain has not
// reached.
func TestAppRoleCannotPoisonTheAuditTree(t *testing.T) {
	ctx := t.Context()
	_, appURL, _ := appRoleURL(t)
	s, err := pgstore.Open(ctx, appURL, storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "clinic-a"
	appendEvents(t, s, tenant, 3) // nodes (1,0) exist; (1,1) and (2,0) wait for leaf 4
	s.Close()

	conn, err := pgx.Connect(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	forged := make([]byte, 32)
	for _, scope := range []struct{ practice, path string }{{tenant, ""}, {"", "audit-sequencer"}} {
		for _, node := range [][2]int{{1, 1}, {2, 0}, {1, 7}, {0, 3}} {
			err := attackerExec(t, conn, scope.practice, scope.path,
				`INSERT INTO audit_tree_nodes (tenant, level, idx, hash) VALUES ($1, $2, $3, $4)`, tenant, node[0], node[1], forged)
			if !isCheckViolation(err) {
				t.Errorf("app role as %v inserted a forged tree node %v: %v", scope, node, err)
			}
		}
		err := attackerExec(t, conn, scope.practice, scope.path,
			`INSERT INTO audit_signed_heads (tenant, size, at, note) VALUES ($1, 4, now(), 'forged')`, tenant)
		if !isCheckViolation(err) {
			t.Errorf("app role as %v inserted a signed head past the chain's end: %v", scope, err)
		}
	}

	// A new sequencer (another process taking the lock) goes on from the
	// stored edge: every proof it serves verifies against the tree the rows
	// make.
	s2, err := pgstore.Open(ctx, appURL, storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	appendEvents(t, s2, tenant, 5)
	tree := audit.NewTree()
	for e, err := range s2.AuditEntries(gateway.WithPractice(ctx, tenant), gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := audit.LeafHash(e)
		if err != nil {
			t.Fatal(err)
		}
		_ = tree.Append(leaf, nil)
	}
	size := tree.Size()
	if size != 8 {
		t.Fatalf("chain of %d entries, want 8", size)
	}
	for seq := int64(1); seq <= int64(size); seq++ {
		e, proof, err := s2.AuditInclusion(ctx, tenant, seq, size)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := audit.LeafHash(e)
		if err := audit.VerifyInclusion(leaf, uint64(seq-1), size, proof, tree.Root()); err != nil {
			t.Errorf("inclusion proof of seq %d does not match the rows' tree: %v", seq, err)
		}
	}
}

// TestAppRoleCannotRewriteTheTrailOnAnyPath: the role sets gateway.scope
// and gateway.practice itself, so row-level security is no barrier to it;
// the grants and triggers still refuse every change and removal of an
// audit row, on every path.
func TestAppRoleCannotRewriteTheTrailOnAnyPath(t *testing.T) {
	ctx := t.Context()
	_, appURL, _ := appRoleURL(t)
	s, err := pgstore.Open(ctx, appURL, storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, s, "clinic-a", 2)
	s.Close()
	conn, err := pgx.Connect(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, path := range []string{"audit-sequencer", "audit", "migrate"} {
		for _, q := range []string{
			`UPDATE audit_log SET detail = '{}' WHERE tenant = 'clinic-a' AND seq = 2`,
			`DELETE FROM audit_log WHERE tenant = 'clinic-a' AND seq = 2`,
			`UPDATE audit_tree_nodes SET hash = hash WHERE tenant = 'clinic-a'`,
			`DELETE FROM audit_tree_nodes WHERE tenant = 'clinic-a'`,
			`DELETE FROM audit_events`,
			`UPDATE audit_events SET detail = '{}'`,
			`DELETE FROM audit_signed_heads`,
			`TRUNCATE audit_log`,
			`TRUNCATE audit_tree_nodes`,
			`INSERT INTO audit_log (tenant, seq, at, actor, action, outcome, detail, prev_hash, hash)
				SELECT tenant, seq, at, actor, action, outcome, detail, prev_hash, hash FROM audit_log ON CONFLICT (tenant, seq) DO UPDATE SET detail = '{}'`,
		} {
			err := attackerExec(t, conn, "", path, q)
			if err == nil {
				t.Errorf("app role on path %s ran %q", path, q)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, "permission denied") && !strings.Contains(msg, "append-only") {
				t.Errorf("%q refused for another reason: %v", q, err)
			}
		}
	}
}

func isCheckViolation(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23514"
}

// withoutCaller is url without the gateway's caller token: the
// application role's password and nothing else.
func withoutCaller(t *testing.T, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	if q.Get("gateway.caller") == "" {
		t.Fatalf("%s carries no caller token", u)
	}
	q.Del("gateway.caller")
	pu.RawQuery = q.Encode()
	return pu.String()
}

// TestAppRolePasswordAloneOpensNoPractice: row-level security read the
// acting practice and path from settings any session may set, so a
// holder of the application role's password (with no key of the gateway)
// could name a gateway-wide path and read or change every practice's
// rows, delete the data keys, or append forged entries to any practice's
// audit trail. Now a session is believed only when it sends the caller
// token registered by `gateway migrate --app-role`, which derives from
// the gateway's blind-index key.
func TestAppRolePasswordAloneOpensNoPractice(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	// The gateway's own sessions see the world.
	if n := w.count(t, gateway.WithPractice(ctx, "north"), "referrals", ""); n == 0 {
		t.Fatal("the gateway acting for north sees no referral")
	}
	attackerURL := withoutCaller(t, w.appURL)
	if _, err := pgstore.Open(ctx, attackerURL, storetest.FastQueue()); err == nil || !strings.Contains(err.Error(), "does not recognise") {
		t.Errorf("store opened without the caller token: %v", err)
	}
	conn, err := pgx.Connect(ctx, attackerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A temporary table named like the registry comes first in the
	// attacker's search_path; it must not be what is read.
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE gateway_callers (token_hash bytea, added_at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	tables := append([]string{"data_keys", "documents", "audit_events", "river_job", "river_leader", "river_queue"}, practiceTables...)
	for _, sc := range []struct{ practice, path string }{{"north", ""}, {"", "audit-sequencer"}, {"south", "audit"}} {
		for _, table := range tables {
			var n int
			err := func() error {
				tx, err := conn.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(ctx)
				if _, err := tx.Exec(ctx, `SELECT set_config('gateway.practice', $1, true), set_config('gateway.scope', $2, true)`, sc.practice, sc.path); err != nil {
					return err
				}
				return tx.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
			}()
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("the role's password alone, as %+v, reads %d rows of %s", sc, n, table)
			}
		}
		for _, q := range []string{
			`INSERT INTO audit_events (at, actor, tenants, action, outcome, detail) VALUES (now(), 'user:mallory', '["north"]', 'consent.captured', 'success', '{}')`,
			`INSERT INTO audit_log (tenant, seq, at, actor, action, outcome, detail, prev_hash, hash) VALUES ('north', 1000, now(), 'user:mallory', 'consent.captured', 'success', '{}', '', '')`,
			`INSERT INTO consents (id, tenant, patient_id, kind, doc) VALUES ('forged', 'north', 'x', 'authorization', '\x00')`,
			`INSERT INTO data_keys (id, kek_id, wrapped, created_at) VALUES ('forged', 'x', '\x00', now())`,
			`INSERT INTO river_job (args, kind, max_attempts, queue, state) VALUES ('{"delivery_id": "x"}', 'deliver', 5, 'default', 'available')`,
		} {
			if err := attackerExec(t, conn, sc.practice, sc.path, q); err == nil || !strings.Contains(err.Error(), "row-level security") {
				t.Errorf("the role's password alone, as %+v, ran %q: %v", sc, q, err)
			}
		}
	}
	// Nothing the attacker did reached the gateway's rows.
	if n := w.count(t, gateway.GatewayWide(ctx, "test"), "audit_events", "actor = 'user:mallory'"); n != 0 {
		t.Errorf("%d forged audit events stored", n)
	}
}
