package subscription

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// trail lists the actions and outcomes in a tenant's audit trail.
func trail(t *testing.T, svc *gateway.Service, tenant string) []string {
	t.Helper()
	var out []string
	for en, err := range svc.AuditEntries(context.Background(), gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, en.Action+"/"+en.Outcome)
	}
	return out
}

func TestHandshakeFailuresStopTheSubscription(t *testing.T) {
	ctx := context.Background()
	svc, clock := newService(t)
	cfg := Config{AllowHTTP: true, AllowPrivateNetworks: true, MaxFailures: 3, Backoff: time.Minute}
	reg, n := NewRegistry(svc, cfg), NewNotifier(svc, cfg, nil)
	ep := newEndpoint(t, http.StatusInternalServerError)
	s, err := reg.Create(ctx, Owner{OrgID: "org-a"}, ep.resource(StatusRequested, "Task?owner=org-a"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		if err := n.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if want := min(i, 3); ep.count() != want {
			t.Fatalf("poll %d: %d handshakes, want %d", i, ep.count(), want)
		}
		st, err := reg.State(ctx, "org-a", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 && !st.NextAttempt.Equal(clock.Now().Add(time.Minute<<(i-1))) {
			t.Errorf("after failure %d: next attempt %v, want %v later", i, st.NextAttempt, time.Minute<<(i-1))
		}
		clock.Advance(time.Hour)
	}
	got, err := reg.Get(ctx, "org-a", s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusError || !strings.Contains(got.Error, "3 consecutive") || !strings.Contains(got.Error, "http 500") {
		t.Errorf("status %s, error %q", got.Status, got.Error)
	}
	if failing, err := reg.Failing(ctx); err != nil || len(failing) != 1 || failing[0].ID != s.ID {
		t.Errorf("Failing: %d subscriptions (%v)", len(failing), err)
	}
	tr := trail(t, svc, "org-a")
	if !slices.Contains(tr, "fhir.subscription.handshake/failure") || !slices.Contains(tr, "fhir.subscription.error/failure") {
		t.Errorf("trail %v", tr)
	}
	for _, a := range tr {
		if strings.Contains(a, "s3cret") {
			t.Errorf("trail carries the header value")
		}
	}
}

// TestRetryAfterHoldsTheNextAttempt: an endpoint that answers 429 or 503
// with Retry-After is not tried again before it asked, when that is later
// than the backoff; a shorter Retry-After leaves the backoff.
func TestRetryAfterHoldsTheNextAttempt(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter string
		want       time.Duration
	}{
		{http.StatusTooManyRequests, "600", 10 * time.Minute},
		{http.StatusServiceUnavailable, "3600", time.Hour},
		{http.StatusTooManyRequests, "5", time.Minute},       // shorter than the backoff
		{http.StatusInternalServerError, "600", time.Minute}, // only 429 and 503 say when
		{http.StatusTooManyRequests, "soon", time.Minute},    // not a delay
		{http.StatusServiceUnavailable, "86400", time.Hour},  // capped
	}
	for _, c := range cases {
		ctx := context.Background()
		svc, clock := newService(t)
		cfg := Config{AllowHTTP: true, AllowPrivateNetworks: true, MaxFailures: 3, Backoff: time.Minute}
		reg, n := NewRegistry(svc, cfg), NewNotifier(svc, cfg, nil)
		ep := newEndpoint(t, c.status)
		ep.retryAfter = c.retryAfter
		s, err := reg.Create(ctx, Owner{OrgID: "org-a"}, ep.resource(StatusRequested, "Task?owner=org-a"))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := reg.State(ctx, "org-a", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.NextAttempt.Sub(clock.Now()); got != c.want {
			t.Errorf("%d Retry-After %q: next attempt in %v, want %v", c.status, c.retryAfter, got, c.want)
		}
	}
}

func TestPrivateAddressesAreRefusedByDefault(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t)
	cfg := Config{AllowHTTP: true}
	reg, n := NewRegistry(svc, cfg), NewNotifier(svc, cfg, nil)
	ep := newEndpoint(t, http.StatusOK) // listens on 127.0.0.1
	s, err := reg.Create(ctx, Owner{OrgID: "org-a"}, ep.resource(StatusRequested, "Task?owner=org-a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := reg.State(ctx, "org-a", s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ep.count() != 0 || st.Failures != 1 {
		t.Errorf("loopback endpoint: %d posts, %d failures", ep.count(), st.Failures)
	}
}

func TestEndedAndOffSubscriptionsAreNotServed(t *testing.T) {
	ctx := context.Background()
	svc, clock := newService(t)
	cfg := Config{AllowHTTP: true, AllowPrivateNetworks: true}
	reg, n := NewRegistry(svc, cfg), NewNotifier(svc, cfg, nil)
	ep := newEndpoint(t, http.StatusOK)
	ended := ep.resource(StatusRequested, "Task?owner=org-a")
	ended.End = clock.Now().Add(time.Minute).Format(time.RFC3339)
	s, err := reg.Create(ctx, Owner{OrgID: "org-a"}, ended)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create(ctx, Owner{OrgID: "org-a"}, ep.resource(StatusOff, "Task?owner=org-a")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := n.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if ep.count() != 0 {
		t.Errorf("ended or off subscriptions were served: %d posts", ep.count())
	}
	if got, err := reg.Get(ctx, "org-a", s.ID); err != nil || got.Status != StatusOff {
		t.Errorf("ended subscription: %v, %v", got.Status, err)
	}
	if tr := trail(t, svc, "org-a"); !slices.Contains(tr, "fhir.subscription.ended/success") {
		t.Errorf("trail %v", tr)
	}
}

func TestBackoff(t *testing.T) {
	c := Config{Backoff: time.Second, MaxBackoff: 10 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		if got := c.backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}
