package channel_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// crlServer serves the CRL last set over HTTP (503 until one is set) and
// returns its base URL and the setter.
func crlServer(t *testing.T) (string, func([]byte)) {
	t.Helper()
	var (
		mu  sync.Mutex
		crl []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if crl == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(crl)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		crl = b
	}
}

// coreOver starts a core on a fresh embedded store whose only channel is
// ch, with a random record key.
func coreOver(t *testing.T, ch *channel.Channel, queue sqlstore.QueueConfig) (*gateway.Service, *sqlstore.Store) {
	t.Helper()
	store, err := litestore.Open(t.Context(), filepath.Join(t.TempDir(), "gw.db"), queue)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := gateway.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return gateway.NewService(store, sealer, nil, gateway.DefaultConfig(), nil, ch), store
}
