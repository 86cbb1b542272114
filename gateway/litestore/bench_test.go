package litestore_test

import (
	"path/filepath"
	"testing"

	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// BenchmarkCreateAndQueue is the embedded store's figure for the same work.
func BenchmarkCreateAndQueue(b *testing.B) {
	s, err := litestore.Open(b.Context(), filepath.Join(b.TempDir(), "gateway.db"), storetest.FastQueue())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchCreateAndQueue(b, s)
}

func BenchmarkSequencer(b *testing.B) {
	s, err := litestore.Open(b.Context(), filepath.Join(b.TempDir(), "gateway.db"), storetest.FastQueue())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchSequencer(b, s)
}
