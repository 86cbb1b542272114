package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// testEntryChecks runs directory re-verification as the queue's periodic
// job: every entry with an endpoint is checked through its channels, the
// results are stored on the entry without changing its version, routing
// avoids a channel whose check failed (naming why), a status change is
// audited once, and a check of an endpoint the entry no longer has is void.
func testEntryChecks(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{Check: gateway.CheckFailed, CheckReason: "metadata: receiver refused with 404"}, Behavior{})
	before, err := e.svc.Entry(e.ctx, "cardio-b")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Every(gateway.JobVerifyDirectory, time.Hour); err != nil { // a round as the leader starts
		t.Fatal(err)
	}
	e.startWorkers()
	var got *gateway.Entry
	e.waitFor("both entries with endpoints checked", func() bool {
		var err error
		if got, err = e.svc.Entry(e.ctx, "cardio-b"); err != nil {
			t.Fatal(err)
		}
		heart, err := e.svc.Entry(e.ctx, "dr-heart")
		if err != nil {
			t.Fatal(err)
		}
		return len(got.Checks) == 2 && len(heart.Checks) == 2
	})
	if c := got.Check(gateway.ChannelFHIR); c == nil || c.Status != gateway.CheckFailed || c.Reason != "metadata: receiver refused with 404" || c.At.IsZero() {
		t.Fatalf("fhir check %+v, want failed with the channel's reason", c)
	}
	if c := got.Check(gateway.ChannelDirect); c == nil || c.Status != gateway.CheckOK {
		t.Fatalf("direct check %+v, want ok", c)
	}
	if got.Version != before.Version || got.Verification == nil {
		t.Errorf("entry v%d (was v%d), verification %+v: a check leaves both alone", got.Version, before.Version, got.Verification)
	}
	if clinic, _ := e.svc.Entry(e.ctx, "clinic-a"); clinic == nil || len(clinic.Checks) != 0 {
		t.Errorf("an entry without endpoints was checked: %+v", clinic)
	}

	// Routing passes over FHIR for the failed check and takes Direct.
	r := e.create(referral())
	ds := e.deliveries(r.ID)
	if len(ds) != 1 || ds[0].Channel != gateway.ChannelDirect {
		t.Fatalf("deliveries %+v, want one on Direct", ds)
	}
	e.direct.SetBehavior(Behavior{Unreachable: "no usable certificate"})
	n := referral()
	_, err = e.svc.CreateReferral(e.ctx, gateway.Actor{ID: "u", OrgID: "clinic-a"}, n)
	if err == nil || !strings.Contains(err.Error(), "failed the gateway's check") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("create with FHIR failed and Direct unreachable: %v, want a refusal naming the failed check", err)
	}
	e.direct.SetBehavior(Behavior{})

	// The endpoint answers again: the next check clears it; a second check
	// with the same outcome adds no audit event.
	e.fhir.SetBehavior(Behavior{})
	for range 2 {
		if got, err = e.svc.CheckEntry(e.ctx, "cardio-b"); err != nil {
			t.Fatal(err)
		}
	}
	if c := got.Check(gateway.ChannelFHIR); c == nil || c.Status != gateway.CheckOK {
		t.Fatalf("fhir check after recovery %+v, want ok", c)
	}
	changes := map[string][]string{}
	for en, err := range e.store.AuditEntries(gateway.GatewayWide(e.ctx, gateway.PathAudit), gateway.AuditQuery{Tenant: "cardio-b"}) {
		if err != nil {
			t.Fatal(err)
		}
		if en.Action == "directory.checked" && en.Detail["entry"] == "cardio-b" {
			changes[en.Detail["channel"]] = append(changes[en.Detail["channel"]], en.Detail["was"]+">"+en.Detail["status"])
		}
	}
	if f, d := strings.Join(changes["fhir"], ","), strings.Join(changes["direct"], ","); f != "none>failed,failed>ok" || d != "none>ok" {
		t.Errorf("audited status changes fhir %q direct %q, want none>failed,failed>ok and none>ok", f, d)
	}

	// An admin's edit keeps the checks; a new FHIR base voids its check.
	edit := *got
	edit.FHIR = &gateway.FHIREndpoint{BaseURL: "https://ehr2.cardio-b.example/fhir"}
	if _, err := e.svc.PutEntry(e.ctx, e.admin, &edit); err != nil {
		t.Fatal(err)
	}
	after, err := e.svc.Entry(e.ctx, "cardio-b")
	if err != nil {
		t.Fatal(err)
	}
	if after.Check(gateway.ChannelFHIR) != nil || after.Check(gateway.ChannelDirect) == nil {
		t.Errorf("after the edit: fhir check %+v (want none for the new base), direct %+v (want kept)",
			after.Check(gateway.ChannelFHIR), after.Check(gateway.ChannelDirect))
	}
}
