package inbound_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// onPostgres makes pair build its nodes on PostgreSQL, each in a fresh
// schema, instead of the embedded store; TestOnPostgres sets it while its
// subtests run. No other test of the package is parallel, so none runs
// meanwhile.
var onPostgres bool

// pgURL is the test database (GATEWAY_TEST_PG, else the local one).
func pgURL() string {
	if u := os.Getenv("GATEWAY_TEST_PG"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// freshSchema makes a schema of the test database, dropped when the test
// ends, and returns the URL that uses it. Without PostgreSQL the test
// skips, except under CI=true, where it fails.
func freshSchema(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable under CI=true: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set GATEWAY_TEST_PG", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "gwdirect_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, pgURL()); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(pgURL(), "?") {
		sep = "&"
	}
	return pgURL() + sep + "search_path=" + schema
}

// TestOnPostgres runs the Direct cases of issue 17 that go through the
// store (receipts from the exact address, the inbox and dispatched only
// when available, processed always and to the sender, the revocation
// outage, duplicates, the delivery notification cases, refusals, replies,
// AIA for a signer) on PostgreSQL as well as on the embedded store.
func TestOnPostgres(t *testing.T) {
	onPostgres = true
	t.Cleanup(func() { onPostgres = false })
	for _, tc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"EndToEnd", TestEndToEnd},
		{"ReplyFromAnotherUserOfTheDomain", TestReplyFromAnotherUserOfTheDomain},
		{"DispatchedOnlyWhenAvailable", TestDispatchedOnlyWhenAvailable},
		{"ProcessedAlwaysToSender", TestProcessedAlwaysToSender},
		{"Refusals", TestRefusals},
		{"RevocationOutage", TestRevocationOutage},
		{"DeliveryNotificationCases", TestDeliveryNotificationCases},
		{"DuplicateOverSMTP", TestDuplicateOverSMTP},
		{"Replies", TestReplies},
		{"SignerChainViaAIA", TestSignerChainViaAIA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each its own schemas, ports and clocks
			tc.run(t)
		})
	}
}
