package subscription

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// manualClock is the one clock of a test.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newService is a core over an embedded store in t.TempDir().
func newService(t *testing.T) (*gateway.Service, *manualClock) {
	t.Helper()
	ctx := context.Background()
	store, err := litestore.Open(ctx, filepath.Join(t.TempDir(), "g.db"), sqlstore.DefaultQueueConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sealer, err := gateway.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	clock := &manualClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	return gateway.NewService(store, sealer, clock, gateway.DefaultConfig(), nil), clock
}

// endpoint is a rest-hook receiver on a real listener answering status.
type endpoint struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status int
	posts  int
	// retryAfter, when set, is sent as the Retry-After header.
	retryAfter string
}

func newEndpoint(t *testing.T, status int) *endpoint {
	t.Helper()
	ep := &endpoint{status: status}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep.mu.Lock()
		ep.posts++
		st, ra := ep.status, ep.retryAfter
		ep.mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *endpoint) count() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.posts
}

func (ep *endpoint) resource(status Status, criteria string) *Resource {
	return &Resource{ResourceType: "Subscription", Status: status, Reason: "test", Criteria: criteria,
		Channel: &Channel{Type: "rest-hook", Endpoint: ep.srv.URL + "/hook", Header: []string{"Authorization: Bearer s3cret"}}}
}
