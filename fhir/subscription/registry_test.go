package subscription

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

func TestRegistryLifecycle(t *testing.T) {
	ctx := context.Background()
	svc, clock := newService(t)
	reg := NewRegistry(svc, Config{AllowHTTP: true, MaxPerOrg: 2})
	ep := newEndpoint(t, http.StatusOK)
	a := Owner{OrgID: "org-a", ClientID: "ehr-a"}

	s, err := reg.Create(ctx, a, ep.resource(StatusActive, "Task?owner=org-a"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != 1 || s.Resource().Channel.Header[0] != "Authorization: "+Redacted {
		t.Errorf("created %+v, rendered headers %v", s, s.Resource().Channel.Header)
	}
	if _, err := reg.Get(ctx, "org-b", s.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("another organisation reads it: %v", err)
	}
	if err := reg.Delete(ctx, "org-b", s.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("another organisation deletes it: %v", err)
	}
	if _, err := reg.Create(ctx, a, ep.resource(StatusActive, "Task?requester=org-a")); err != nil {
		t.Fatal(err)
	}
	var se *Error
	if _, err := reg.Create(ctx, a, ep.resource(StatusActive, "Task?requester=org-a")); !errors.As(err, &se) || se.Code != "business-rule" {
		t.Errorf("third subscription with MaxPerOrg 2: %v", err)
	}
	if list, err := reg.List(ctx, "org-b"); err != nil || len(list) != 0 {
		t.Errorf("org-b lists %d (%v)", len(list), err)
	}

	// A stale version is a conflict; a redacted header keeps its value.
	clock.Advance(time.Minute)
	res := s.Resource()
	res.Status = StatusOff
	if _, err := reg.Update(ctx, a, s.ID, 7, res); !errors.Is(err, gateway.ErrConflict) {
		t.Errorf("stale If-Match: %v", err)
	}
	off, err := reg.Update(ctx, a, s.ID, s.Version, res)
	if err != nil {
		t.Fatal(err)
	}
	if off.Status != StatusOff || off.Version != 2 || off.Header[0] != "Authorization: Bearer s3cret" {
		t.Errorf("after update: %+v", off)
	}

	// A new criteria starts its cursor afresh.
	res = off.Resource()
	res.Criteria = "Task?requester=org-a"
	if _, err := reg.Update(ctx, a, s.ID, 0, res); err != nil {
		t.Fatal(err)
	}
	st, err := reg.State(ctx, "org-a", s.ID)
	if err != nil || !st.Start.Equal(clock.Now()) || !st.Cursor.Equal(clock.Now()) {
		t.Errorf("state after criteria change %+v (%v), want start %v", st, err, clock.Now())
	}

	if err := reg.Delete(ctx, "org-a", s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.State(ctx, "org-a", s.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("state after delete: %v", err)
	}
}

func TestRegistryRefusesOthersAndRedactedCreate(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t)
	reg := NewRegistry(svc, Config{})
	ep := newEndpoint(t, http.StatusOK)
	var se *Error
	if _, err := reg.Create(ctx, Owner{OrgID: "org-a"}, ep.resource(StatusActive, "Task?owner=org-a")); !errors.As(err, &se) || se.Expression != "Subscription.channel.endpoint" {
		t.Errorf("http endpoint without AllowHTTP: %v", err)
	}
	reg = NewRegistry(svc, Config{AllowHTTP: true})
	res := ep.resource(StatusActive, "Task?owner=org-a")
	res.Channel.Header = []string{"Authorization: " + Redacted}
	if _, err := reg.Create(ctx, Owner{OrgID: "org-a"}, res); !errors.As(err, &se) || se.Expression != "Subscription.channel.header[0]" {
		t.Errorf("redacted header on create: %v", err)
	}
	if _, err := reg.Create(ctx, Owner{OrgID: "org-a"}, ep.resource(StatusActive, "Task?owner=org-b")); !errors.As(err, &se) || se.Code != "forbidden" {
		t.Errorf("criteria of another organisation: %v", err)
	}
}
