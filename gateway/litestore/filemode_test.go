package litestore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "gateway.db")
	// A directory and file left world-readable by an earlier version are
	// tightened on open.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := litestore.Open(t.Context(), path, storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600}
	for p, mode := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %o, want %o", p, got, mode)
		}
	}
}
