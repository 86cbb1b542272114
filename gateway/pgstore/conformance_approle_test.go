package pgstore_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// openAppRole opens a fresh schema as its app role (gateway migrate
// --app-role): NOSUPERUSER, NOBYPASSRLS, owning nothing, so row-level
// security binds it. It returns the store and the owner's URL.
func openAppRole(t testing.TB, queue sqlstore.QueueConfig) (*sqlstore.Store, string) {
	s, ownerURL, _ := openAppRoleURL(t, queue)
	return s, ownerURL
}

// openAppRoleURL is openAppRole that also returns the app role's URL.
func openAppRoleURL(t testing.TB, queue sqlstore.QueueConfig) (*sqlstore.Store, string, string) {
	t.Helper()
	ownerURL, appURL, _ := appRoleURL(t)
	s, err := pgstore.Open(t.Context(), appURL, queue)
	if err != nil {
		t.Fatalf("open as app role: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ownerURL, appURL
}

// ownerExec runs statements on the schema as its owner (a superuser).
func ownerExec(t testing.TB, ownerURL string, qs ...string) error {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for _, q := range qs {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			return err
		}
	}
	return nil
}

// TestConformanceAppRole runs the whole conformance suite as the app role,
// so every path of the core must act for a practice (or a named
// gateway-wide path) for its rows to be there at all.
func TestConformanceAppRole(t *testing.T) {
	var owners sync.Map // *sqlstore.Store → owner URL
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) gateway.Store {
			s, ownerURL := openAppRole(t, storetest.FastQueue())
			owners.Store(s, ownerURL)
			return s
		},
		Tamper: func(t *testing.T, s gateway.Store, tenant string, seq int64) {
			u, _ := owners.Load(s)
			ownerURL := u.(string)
			row := `tenant = '` + tenant + `' AND seq = ` + strconv.FormatInt(seq, 10)
			err := ownerExec(t, ownerURL, `UPDATE audit_log SET actor = 'user:mallory' WHERE `+row)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("trigger did not refuse the update: %v", err)
			}
			if err := ownerExec(t, ownerURL, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
				`UPDATE audit_log SET actor = 'user:mallory' WHERE `+row,
				`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`); err != nil {
				t.Fatal(err)
			}
		},
	})
}
