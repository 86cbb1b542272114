package api

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// TestBearerRefusalFloodIsAggregated sends many requests without a valid
// token from one address: each is answered 401, but the gateway's own
// trail records them as aggregated edge entries, not one entry a request
// that anyone on the network could make the trail grow with.
func TestBearerRefusalFloodIsAggregated(t *testing.T) {
	e := newEnv(t)
	const flood = 60
	for i := range flood {
		token := "forged-token"
		if i%2 == 0 {
			token = "" // no Authorization header at all
		}
		r := e.do(t, token, http.MethodGet, "/fhir/Task", nil)
		r.want(t, http.StatusUnauthorized)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("401 without a WWW-Authenticate challenge")
		}
	}
	if err := e.svc.FlushEdges(t.Context()); err != nil {
		t.Fatal(err)
	}
	var entries, counted int
	for en, err := range e.store.AuditEntries(t.Context(), gateway.AuditQuery{Tenant: gateway.SystemTenant}) {
		if err != nil {
			t.Fatal(err)
		}
		if en.Action != "auth.bearer.refused" {
			continue
		}
		entries++
		if en.Outcome != audit.OutcomeRefused || en.Detail["source"] == "" {
			t.Errorf("entry %d: outcome %q, source %q; want refused with the client address", en.Seq, en.Outcome, en.Detail["source"])
		}
		n, err := strconv.Atoi(en.Detail["count"])
		if err != nil {
			t.Errorf("entry %d: count %q: %v", en.Seq, en.Detail["count"], err)
		}
		counted += n
	}
	// Two reasons (no token, invalid token), each written first and then
	// as one count when the window closes.
	if entries == 0 || entries > 4 {
		t.Errorf("%d auth.bearer.refused entries for %d refused requests, want 1 to 4", entries, flood)
	}
	if counted != flood {
		t.Errorf("the entries count %d refusals, want %d", counted, flood)
	}
}
