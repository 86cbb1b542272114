package pgstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// OpenFresh opens a store in a new schema of the test database, dropped
// when the test ends. Without PostgreSQL the test skips, except under
// CI=true, where it fails.
func OpenFresh(t testing.TB, queue sqlstore.QueueConfig) *sqlstore.Store {
	s, _ := openFreshURL(t, queue)
	return s
}

// openFreshURL is OpenFresh that also returns the schema's URL, for tests
// that open a second store on it.
func openFreshURL(t testing.TB, queue sqlstore.QueueConfig) (*sqlstore.Store, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := pgtest.FreshSchema(t, "gwtest_")
	s, err := pgstore.Open(ctx, url, queue)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, url
}

// auditVerify reports whether every chain in the store verifies.
func auditVerify(ctx context.Context, s gateway.Store) (bool, error) {
	rep, err := audit.Verify(s.AuditEntries(ctx, gateway.AuditQuery{}))
	return rep.OK(), err
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) gateway.Store { return OpenFresh(t, storetest.FastQueue()) },
		Tamper: func(t *testing.T, s gateway.Store, tenant string, seq int64) {
			b := s.(*sqlstore.Store).Backend()
			exec := func(q string, args ...any) error {
				tx, err := b.Begin(t.Context(), false)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback(t.Context())
				if _, err := tx.Exec(t.Context(), q, args...); err != nil {
					return err
				}
				return tx.Commit(t.Context())
			}
			err := exec(`UPDATE audit_log SET actor = 'user:mallory' WHERE tenant = $1 AND seq = $2`, tenant, seq)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("trigger did not refuse the update: %v", err)
			}
			if err := exec(`DELETE FROM audit_log WHERE tenant = $1`, tenant); err == nil {
				t.Fatal("trigger did not refuse the delete")
			}
			// A superuser can switch the trigger off; the chain still shows it.
			for _, q := range []string{`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
				`UPDATE audit_log SET actor = 'user:mallory' WHERE tenant = '` + tenant + `' AND seq = ` + strconv.FormatInt(seq, 10),
				`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`} {
				if err := exec(q); err != nil {
					t.Fatal(err)
				}
			}
		},
	})
}
