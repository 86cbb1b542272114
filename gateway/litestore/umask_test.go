package litestore_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestFilesOwnerOnlyUnderPermissiveUmask checks the embedded database, its WAL and
// shared-memory files are 0600 in a 0700 directory, even under a
// permissive umask, and that files an older version left readable by
// others are tightened on open.
func TestFilesOwnerOnlyUnderPermissiveUmask(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "gateway.db")
	s, err := litestore.Open(t.Context(), path, storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(t.Context(), func(tx gateway.Tx) error {
		return tx.PutEntry(t.Context(), &gateway.Entry{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Clinic", Version: 1, Updated: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	checkFileMode(t, dir, 0o700)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		checkFileMode(t, f, 0o600)
	}
	s.Close()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = litestore.Open(t.Context(), path, storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkFileMode(t, path, 0o600)
}

func checkFileMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", filepath.Base(path), got, want)
	}
}
