package main

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/referralgw/gateway/audit"
)

// TestNoteKeyFileCreatesOnce: processes starting together each generate a
// key, but one file is written and every caller gets the key it holds.
func TestNoteKeyFileCreatesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "audit-log.key")
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			k, err := noteKeyFile(path, func() (string, string, error) { return audit.GenerateSigningKey("gw.test") })
			if err != nil {
				t.Error(err)
			}
			got[i] = k
		})
	}
	wg.Wait()
	for i, k := range got {
		if k == "" || k != got[0] {
			t.Fatalf("caller %d got a different key than caller 0", i)
		}
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", info, err)
	}
	pub, err := os.ReadFile(path + ".pub")
	want, _ := audit.VerifierKeyOf(got[0])
	if err != nil || string(pub) != want+"\n" {
		t.Fatalf("public key beside it does not match the kept key (%v)", err)
	}
	again, err := noteKeyFile(path, func() (string, string, error) { t.Fatal("generated a key though one exists"); return "", "", nil })
	if err != nil || again != got[0] {
		t.Fatalf("second use: %v", err)
	}
}
