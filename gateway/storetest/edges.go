package storetest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// testEdgeAggregation floods the gateway's chain from an unauthenticated
// edge: the first event of each (action, source, reason) is written at once,
// the rest of the window becomes one entry with its count, attacker text is
// cut and escaped, and no practice's chain receives anything.
func testEdgeAggregation(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	before := e.verify()
	evil := "mallory\r\nX-Injected: yes \u202e" + strings.Repeat("A", 300)
	const flood = 500
	for range flood {
		if err := e.svc.RecordEdge(e.ctx, gateway.EdgeEvent{Action: "fax.callback.refused", Source: "203.0.113.9",
			Reason: "signature mismatch", Text: evil}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.RecordEdge(e.ctx, gateway.EdgeEvent{Action: "auth.login-failed", Source: "198.51.100.4",
		Reason: "unknown-account", Text: "nobody"}); err != nil {
		t.Fatal(err)
	}
	entries := e.edgeEntries()
	if len(entries) != 2 {
		t.Fatalf("after a flood within one window: %d gateway entries, want 2 (the first of each key)", len(entries))
	}
	e.clock.Advance(gateway.EdgeInterval)
	if err := e.svc.FlushEdges(e.ctx); err != nil {
		t.Fatal(err)
	}
	entries = e.edgeEntries()
	if len(entries) != 3 {
		t.Fatalf("after the window: %d gateway entries, want 3", len(entries))
	}
	total := map[string]int{}
	for _, en := range entries {
		if en.Outcome != audit.OutcomeRefused || en.Actor != "anonymous" {
			t.Errorf("entry %d: actor %q outcome %q", en.Seq, en.Actor, en.Outcome)
		}
		var n int
		for _, c := range en.Detail["count"] {
			n = n*10 + int(c-'0')
		}
		total[en.Action] += n
		text := en.Detail["text"]
		if len(text) > 3*gateway.EdgeTextMax || strings.ContainsAny(text, "\r\n\u202e") {
			t.Errorf("entry %d: text not cut or escaped: %q", en.Seq, text)
		}
	}
	if total["fax.callback.refused"] != flood || total["auth.login-failed"] != 1 {
		t.Errorf("counts %v, want %d refused callbacks and 1 failed login", total, flood)
	}
	after := e.verify()
	if !after.OK() || after.Entries-before.Entries != 3 {
		t.Errorf("entries %d → %d (intact %v); the edge events belong in the gateway's chain only", before.Entries, after.Entries, after.OK())
	}
	if e.svc.FlushEdges(e.ctx) != nil || len(e.edgeEntries()) != 3 {
		t.Error("an empty window wrote entries")
	}
}

// testEdgeAggregationManySources floods from 2,000 sources, one event
// each, as a script cycling through the /64s of an IPv6 /48 would: the
// trail gets EdgeKeysMax entries at once and one entry with the count of
// the rest, not one per source, and a window costs it at most
// edgeWindowEntries entries (docs/EDGES.md).
func testEdgeAggregationManySources(t *testing.T, h Harness) {
	const edgeWindowEntries = 100
	e := newEnv(t, h, Behavior{}, Behavior{})
	before := len(e.edgeEntries())
	const flood = 2000
	for i := range flood {
		if err := e.svc.RecordEdge(e.ctx, gateway.EdgeEvent{Action: "auth.bearer.refused",
			Source: "2001:db8:0:" + strconv.FormatInt(int64(i), 16) + "::/64", Reason: "no-token"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(e.edgeEntries()) - before; got != gateway.EdgeKeysMax {
		t.Fatalf("%d sources within one window wrote %d entries at once, want %d", flood, got, gateway.EdgeKeysMax)
	}
	e.clock.Advance(gateway.EdgeInterval)
	if err := e.svc.FlushEdges(e.ctx); err != nil {
		t.Fatal(err)
	}
	entries := e.edgeEntries()[before:]
	if len(entries) > edgeWindowEntries {
		t.Fatalf("one window of %d sources cost the trail %d entries, want at most %d", flood, len(entries), edgeWindowEntries)
	}
	if len(entries) != gateway.EdgeKeysMax+1 {
		t.Fatalf("after the window: %d entries, want %d (one per tracked source, one for the rest)", len(entries), gateway.EdgeKeysMax+1)
	}
	total, rest := 0, 0
	for _, en := range entries {
		n, err := strconv.Atoi(en.Detail["count"])
		if err != nil {
			t.Fatalf("entry %d: count %q", en.Seq, en.Detail["count"])
		}
		total += n
		if en.Detail["source"] == "*" {
			rest += n
		}
	}
	if total != flood || rest != flood-gateway.EdgeKeysMax {
		t.Errorf("counted %d events, %d of them under source \"*\"; want %d and %d", total, rest, flood, flood-gateway.EdgeKeysMax)
	}
}

// testEdgeAggregationForAReferral floods the aggregation with an event tied
// to a referral (a replayed callback): its entries go to the named
// practices' chains, naming the referral, with the outcome given; the
// gateway's chain receives nothing.
func testEdgeAggregationForAReferral(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	r := e.create(referral())
	gw := len(e.edgeEntries())
	tenants := []string{"clinic-a", "cardio-b"}
	trail := func(tenant string) []audit.Entry {
		var out []audit.Entry
		for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: tenant}) {
			if err != nil {
				t.Fatal(err)
			}
			if en.Action == "fax.callback.replay" {
				out = append(out, en)
			}
		}
		return out
	}
	const flood = 50
	for range flood {
		if err := e.svc.RecordEdge(e.ctx, gateway.EdgeEvent{Action: "fax.callback.replay", Source: "delivery-1",
			Reason: "success", Text: "1234", Tenants: tenants, ReferralID: r.ID, Outcome: audit.OutcomeRefused}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.FlushEdges(e.ctx); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range tenants {
		entries := trail(tenant)
		if len(entries) != 2 {
			t.Fatalf("%s: %d entries, want 2 (the first, then the count of the rest)", tenant, len(entries))
		}
		n := 0
		for _, en := range entries {
			if en.ReferralID != r.ID || en.Outcome != audit.OutcomeRefused || en.Detail["source"] != "delivery-1" {
				t.Errorf("%s entry %d: referral %q outcome %q detail %v", tenant, en.Seq, en.ReferralID, en.Outcome, en.Detail)
			}
			c, _ := strconv.Atoi(en.Detail["count"])
			n += c
		}
		if n != flood {
			t.Errorf("%s: counted %d, want %d", tenant, n, flood)
		}
	}
	if got := len(e.edgeEntries()); got != gw {
		t.Errorf("the gateway's chain went from %d to %d entries", gw, got)
	}
	if v := e.verify(); !v.OK() {
		t.Error("the chains do not verify")
	}
}

// edgeEntries lists the gateway chain's entries.
func (e *env) edgeEntries() []audit.Entry {
	e.t.Helper()
	var out []audit.Entry
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: gateway.SystemTenant}) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}
