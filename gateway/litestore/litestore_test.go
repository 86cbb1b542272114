package litestore_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) gateway.Store {
			s, err := litestore.Open(t.Context(), filepath.Join(t.TempDir(), "gateway.db"), storetest.FastQueue())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		Tamper: func(t *testing.T, s gateway.Store, tenant string, seq int64) {
			b := s.(*sqlstore.Store).Backend()
			tx, err := b.Begin(t.Context(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(t.Context())
			_, err = tx.Exec(t.Context(), `UPDATE audit_log SET actor = 'user:mallory' WHERE tenant = ?1 AND seq = ?2`, tenant, seq)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("trigger did not refuse the update: %v", err)
			}
			for _, q := range []string{`DROP TRIGGER audit_log_no_update`,
				`UPDATE audit_log SET actor = 'user:mallory' WHERE tenant = ?1 AND seq = ?2`} {
				if _, err := tx.Exec(t.Context(), q, tenant, seq); err != nil && !strings.HasPrefix(q, "DROP") {
					t.Fatal(err)
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
		},
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	s, err := litestore.Open(t.Context(), path, storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(t.Context(), func(tx gateway.Tx) error {
		return tx.PutEntry(t.Context(), &gateway.Entry{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Clinic", Version: 1, Updated: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = litestore.Open(t.Context(), path, storetest.FastQueue()) // migrations are not re-applied
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.View(t.Context(), func(tx gateway.Tx) error {
		_, err := tx.Entry(t.Context(), "clinic-a")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
