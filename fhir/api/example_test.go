package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/referralgw/gateway/fhir/api"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// Example mounts the FHIR API and SMART endpoints on one mux, as cmd/
// does: metadata and discovery are public, everything else needs a token.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fhir-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store, err := litestore.Open(ctx, filepath.Join(dir, "g.db"), sqlstore.DefaultQueueConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	sealer, _ := gateway.NewSealer(make([]byte, 32))
	svc := gateway.NewService(store, sealer, nil, gateway.DefaultConfig(), nil)

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tokens, err := smart.NewTokenServer(smart.TokenServerConfig{IssuerBase: srv.URL, Clients: &smart.MemoryRegistry{},
		Replay: smart.NewMemoryReplayCache(nil), Key: key})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := api.New(svc, tokens.Verifier(), api.Config{BaseURL: srv.URL + "/fhir", TokenURL: tokens.TokenURL()}, nil)
	api.Routes(mux, h, tokens, srv.URL)

	for _, path := range []string{"/fhir/metadata", "/.well-known/smart-configuration", "/fhir/Task"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		res.Body.Close()
		fmt.Println(path, res.StatusCode)
	}
	// Output:
	// /fhir/metadata 200
	// /.well-known/smart-configuration 200
	// /fhir/Task 401
}
