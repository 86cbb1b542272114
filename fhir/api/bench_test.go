package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// benchStores are the stores the benchmark runs on: SQLite always,
// PostgreSQL when GATEWAY_TEST_PG names a database.
func benchStores(b *testing.B) map[string]func(context.Context) (gateway.Store, error) {
	stores := map[string]func(context.Context) (gateway.Store, error){
		"sqlite": func(ctx context.Context) (gateway.Store, error) {
			return litestore.Open(ctx, filepath.Join(b.TempDir(), "g.db"), sqlstore.DefaultQueueConfig())
		},
	}
	if url := os.Getenv("GATEWAY_TEST_PG"); url != "" {
		stores["postgres"] = func(ctx context.Context) (gateway.Store, error) { return openPGSchema(b, ctx, url) }
	}
	return stores
}

// openPGSchema opens the store in a schema of its own, dropped afterwards.
func openPGSchema(b *testing.B, ctx context.Context, url string) (gateway.Store, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	schema := "fhirbench_" + hex.EncodeToString(suffix)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	b.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), url); err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return pgstore.Open(ctx, url+sep+"search_path="+schema, sqlstore.DefaultQueueConfig())
}

// BenchmarkCreateAndSearch measures, over a real listener with a verified
// bearer token, one transaction create (submitted: gates, routing, queued
// delivery, audit) and one search page of 20 Tasks.
func BenchmarkCreateAndSearch(b *testing.B) {
	for name, open := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			e := newEnvWithStore(b, open)
			tok := e.token(b, "ehr-north")
			b.Run("create", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					e.do(b, tok, "POST", "/fhir", transaction(fmt.Sprintf("B-%s-%d", b.Name(), i), "requested")).want(b, http.StatusOK)
				}
			})
			b.Run("search", func(b *testing.B) {
				for b.Loop() {
					e.do(b, tok, "GET", "/fhir/Task?status=requested&_count=20", nil).want(b, http.StatusOK)
				}
			})
		})
	}
}
