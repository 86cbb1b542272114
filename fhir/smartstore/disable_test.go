package smartstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
	"github.com/referralgw/gateway/gateway"
)

// TestSetDisabled toggles a client off and on: the flag is stored, the
// keys survive untouched, each change is audited in the organisation's
// trail, and an unknown id is refused.
func TestSetDisabled(t *testing.T) {
	svc, _ := newService(t)
	s := smartstore.New(svc)
	ctx := t.Context()
	if _, err := s.Register(ctx, "user:admin", smart.Client{ID: "ehr-1", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}},
		jwksFor(t, "k1", newKey(t))); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		disabled bool
		action   string
	}{
		{true, "smart.client-disabled"},
		{true, "smart.client-disabled"},
		{false, "smart.client-enabled"},
	}
	var want []string
	for i, st := range steps {
		got, err := s.SetDisabled(ctx, "user:admin", "ehr-1", st.disabled)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		back, err := s.Client(ctx, "ehr-1")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []smart.Client{got, back} {
			if c.Disabled != st.disabled || c.OrgID != "clinic-a" || len(c.Scopes) != 1 {
				t.Fatalf("step %d: client = %+v, want disabled=%v", i, c, st.disabled)
			}
			if _, ok := c.JWKS.Lookup("k1"); !ok {
				t.Fatalf("step %d: key k1 lost", i)
			}
		}
		want = append(want, st.action)
	}
	var audited []string
	for e, err := range svc.AuditEntries(ctx, gateway.AuditQuery{Tenant: "clinic-a"}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Action != "smart.client-registered" {
			audited = append(audited, e.Action)
			if e.Detail["client"] != "ehr-1" || e.Actor != "user:admin" {
				t.Errorf("audit entry %+v", e)
			}
		}
	}
	if strings.Join(audited, ",") != strings.Join(want, ",") {
		t.Fatalf("audited %v, want %v", audited, want)
	}
	if _, err := s.SetDisabled(ctx, "user:admin", "nobody", true); !errors.Is(err, smart.ErrUnknownClient) {
		t.Fatalf("unknown client: err = %v", err)
	}
}
