package api

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/fhir/subscription"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// queueStores are the stores the queue tests run on: the embedded one,
// and PostgreSQL in a schema of its own (GATEWAY_TEST_PG, or the local
// server; unreachable, the test skips, except under CI=true).
func queueStores(t *testing.T) map[string]func(context.Context) (gateway.Store, error) {
	q := sqlstore.DefaultQueueConfig()
	q.FetchPollInterval = 20 * time.Millisecond
	return map[string]func(context.Context) (gateway.Store, error){
		"sqlite": func(ctx context.Context) (gateway.Store, error) {
			return litestore.Open(ctx, filepath.Join(t.TempDir(), "g.db"), q)
		},
		"postgres": func(ctx context.Context) (gateway.Store, error) {
			return pgstore.Open(ctx, pgtest.FreshSchema(t, "fhirq_"), q)
		},
	}
}

// startQueue registers a notifier on the core's queue and starts the
// store's workers; the notifier's clock is the real one, so that backoffs
// pass.
func (e *env) startQueue(t *testing.T, rc *receiver, cfg subscription.Config) {
	t.Helper()
	cfg.HTTPClient, cfg.Clock = rc.srv.Client(), time.Now
	subscription.NewNotifier(e.svc, cfg, nil).Register()
	if err := e.store.StartWorkers(context.Background(), e.svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.store.StopWorkers(ctx)
	})
}

// waitNotified waits until the receiver accepted one notification per
// version of the Task and returns what it accepted, in order.
func (e *env) waitNotified(t *testing.T, rc *receiver, id string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(successes(rc)) < e.versionCount(t, id) {
		time.Sleep(5 * time.Millisecond)
	}
	return successes(rc)
}

// wantEachVersionInOrder checks that got names every version of the Task
// once, oldest first.
func (e *env) wantEachVersionInOrder(t *testing.T, got []string, id string, atLeast int) {
	t.Helper()
	want := e.versionCount(t, id)
	if want < atLeast {
		t.Fatalf("the Task has %d versions, want at least %d", want, atLeast)
	}
	if len(got) != want {
		t.Fatalf("notified %v, want each of the %d versions once", got, want)
	}
	for i, loc := range got {
		if wantLoc := "Task/" + id + "/_history/" + strconv.Itoa(i+1); loc != wantLoc {
			t.Errorf("notification %d is %s, want %s (one per version, in order)", i+1, loc, wantLoc)
		}
	}
}

// Three changes of one Task within the same second (the test's clock does
// not move at all: the versions share one timestamp) are three
// notifications, in version order, over a real HTTPS endpoint, with the
// jobs on the store's queue, on both stores.
func TestSubscriptionThreeChangesInOneSecondNotifyThreeTimes(t *testing.T) {
	for name, open := range queueStores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnvWithStore(t, open)
			rc := newReceiver(t)
			e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", rc.srv.URL, "application/fhir+json"))
			e.startQueue(t, rc, subscription.Config{})
			id := e.createReferral(t, "T-3", "requested") // created (draft), then submitted: two versions
			e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+id, []byte(`[{"op":"replace","path":"/status","value":"accepted"}]`),
				"Content-Type", "application/json-patch+json").want(t, http.StatusOK)
			e.wantEachVersionInOrder(t, e.waitNotified(t, rc, id), id, 3)
			for _, p := range rc.posts() {
				if n := e.notification(t, p, rc.srv.URL); n.task == nil || n.task.ID != id {
					t.Errorf("notification %s %s %s", p.method, p.path, p.body)
				}
			}
		})
	}
}

// An endpoint that is down while a Task changes three times gets nothing
// until it answers again; its subscription backs off (the failure count
// grows and the next attempt moves later) rather than being retried at
// once, and once the endpoint is up the backlog arrives in version order,
// each version once, and the failure count returns to zero. On both stores.
func TestSubscriptionBacklogAfterEndpointDown(t *testing.T) {
	for name, open := range queueStores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnvWithStore(t, open)
			rc := newReceiver(t)
			rc.setStatus(http.StatusServiceUnavailable)
			// With a payload, so that each request names its Task version.
			sub := e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", rc.srv.URL, "application/fhir+json"))
			cfg := subscription.Config{Backoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, MaxFailures: 1000}
			e.startQueue(t, rc, cfg)
			id := e.createReferral(t, "T-down", "requested")
			e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+id, []byte(`[{"op":"replace","path":"/status","value":"accepted"}]`),
				"Content-Type", "application/json-patch+json").want(t, http.StatusOK)

			reg := subscription.NewRegistry(e.svc, subscription.Config{})
			state := func() *subscription.State {
				t.Helper()
				st, err := reg.State(context.Background(), orgOrtho, sub.ID)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			deadline := time.Now().Add(30 * time.Second)
			for state().Failures < 3 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			st := state()
			if st.Failures < 3 || st.NextAttempt.IsZero() {
				t.Fatalf("while down: %d failures, next attempt %v; want a growing backoff", st.Failures, st.NextAttempt)
			}
			if got := successes(rc); len(got) != 0 {
				t.Fatalf("a down endpoint accepted %v", got)
			}
			// Each failed attempt was one update with the oldest pending
			// version: nothing newer is tried before it.
			for _, p := range rc.posts() {
				if loc := e.notification(t, p, rc.srv.URL).location(); loc != "Task/"+id+"/_history/1" {
					t.Fatalf("while down, tried %s before version 1", loc)
				}
			}

			rc.setStatus(http.StatusOK)
			e.wantEachVersionInOrder(t, e.waitNotified(t, rc, id), id, 3)
			for time.Now().Before(deadline) && state().Failures != 0 {
				time.Sleep(5 * time.Millisecond)
			}
			if st := state(); st.Failures != 0 || !st.NextAttempt.IsZero() {
				t.Errorf("after the backlog: %d failures, next attempt %v", st.Failures, st.NextAttempt)
			}
		})
	}
}

// Two gateway nodes on one PostgreSQL database, each with its notifier on
// the shared queue, deliver every version of a Task once and in order:
// whichever node's worker takes a job, the lease in the subscription's row
// keeps the other from sending at the same time.
func TestSubscriptionTwoNodesNotifyEachVersionOnce(t *testing.T) {
	url := pgtest.FreshSchema(t, "fhirq_")
	q := sqlstore.DefaultQueueConfig()
	q.FetchPollInterval = 20 * time.Millisecond
	e := newEnvWithStore(t, func(ctx context.Context) (gateway.Store, error) { return pgstore.Open(ctx, url, q) })
	rc := newReceiver(t)
	// With a payload, so that each request names its Task version.
	e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=org-ortho", rc.srv.URL, "application/fhir+json"))
	e.startQueue(t, rc, subscription.Config{})

	// The second node: its own store (pool, River client) and service on
	// the same database, with the same record key.
	store2, err := pgstore.Open(context.Background(), url, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store2.Close() })
	sealer, err := gateway.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc2 := gateway.NewService(store2, sealer, e.clock, gateway.DefaultConfig(), nil, pullChannel{})
	subscription.NewNotifier(svc2, subscription.Config{HTTPClient: rc.srv.Client(), Clock: time.Now}, nil).Register()
	if err := store2.StartWorkers(context.Background(), svc2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = store2.StopWorkers(ctx)
	})

	var ids []string
	for i := range 3 {
		id := e.createReferral(t, "N-"+strconv.Itoa(i), "requested")
		e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+id, []byte(`[{"op":"replace","path":"/status","value":"accepted"}]`),
			"Content-Type", "application/json-patch+json").want(t, http.StatusOK)
		ids = append(ids, id)
	}
	total := 0
	for _, id := range ids {
		total += e.versionCount(t, id)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(successes(rc)) < total {
		time.Sleep(5 * time.Millisecond)
	}
	got := successes(rc)
	if len(got) != total {
		t.Fatalf("delivered %d notifications for %d versions: %v", len(got), total, got)
	}
	for _, id := range ids {
		var mine []string
		for _, loc := range got {
			if strings.HasPrefix(loc, "Task/"+id+"/") {
				mine = append(mine, loc)
			}
		}
		e.wantEachVersionInOrder(t, mine, id, 3)
	}
}
