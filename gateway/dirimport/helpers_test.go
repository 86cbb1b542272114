package dirimport_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// fixedClock is a clock the test moves by hand.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

var admin = gateway.Actor{ID: "user:test-admin"}

// newService opens a fresh embedded store in a temporary directory.
func newService(t testing.TB) *gateway.Service {
	t.Helper()
	store, err := litestore.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"), storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sealer, err := gateway.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fixedClock{time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	return gateway.NewService(store, sealer, clock, gateway.DefaultConfig(), nil)
}

// readFixture returns a file under testdata.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// collect drains rows, failing the test on a fatal error.
func collect(t testing.TB, rows dirimport.Rows) []dirimport.Item {
	t.Helper()
	var out []dirimport.Item
	for it, err := range rows.All() {
		if err != nil {
			t.Fatalf("fatal error after %d items: %v", len(out), err)
		}
		out = append(out, it)
	}
	return out
}

// entries returns the entries of items by id.
func entries(items []dirimport.Item) map[string]*gateway.Entry {
	m := map[string]*gateway.Entry{}
	for _, it := range items {
		if it.Entry != nil {
			m[it.Entry.ID] = it.Entry
		}
	}
	return m
}

// skippedRows flattens the row errors of items.
func skippedRows(items []dirimport.Item) []dirimport.RowError {
	var out []dirimport.RowError
	for _, it := range items {
		out = append(out, it.Skipped...)
	}
	return out
}
