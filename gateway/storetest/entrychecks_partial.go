package storetest

import (
	"crypto/rand"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// testEntryCheckKeepsOtherChannels: a node that runs a check with only some
// of the channels configured (a node without Direct, say) records what it
// checked and leaves the other channels' results alone; it does not erase
// them.
func testEntryCheckKeepsOtherChannels(t *testing.T, h Harness) {
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := gateway.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, h.Open(t), sealer, Behavior{}, Behavior{})
	if _, err := e.svc.CheckEntry(e.ctx, "cardio-b"); err != nil {
		t.Fatal(err)
	}
	fhirOnly := gateway.NewService(e.store, sealer, e.clock, gateway.DefaultConfig(), nil, e.fhir)
	e.fhir.SetBehavior(Behavior{Check: gateway.CheckFailed, CheckReason: "metadata: receiver refused with 503"})
	got, err := fhirOnly.CheckEntry(e.ctx, "cardio-b")
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Check(gateway.ChannelFHIR); c == nil || c.Status != gateway.CheckFailed {
		t.Errorf("fhir check %+v, want the new failure", c)
	}
	if c := got.Check(gateway.ChannelDirect); c == nil || c.Status != gateway.CheckOK {
		t.Errorf("direct check %+v after a node without Direct checked the entry, want the earlier ok kept", c)
	}
	stored, err := e.svc.Entry(e.ctx, "cardio-b")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Checks) != 2 || stored.Check(gateway.ChannelDirect) == nil {
		t.Errorf("stored checks %+v, want fhir and direct", stored.Checks)
	}
}
