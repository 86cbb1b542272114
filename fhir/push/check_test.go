package push

import (
	"context"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// TestCheckEndpoint checks a receiver's FHIR base over a real listener: an
// R4 CapabilityStatement passes; no metadata, another resource or another
// FHIR version fails; a server that is gone leaves the check unknown.
func TestCheckEndpoint(t *testing.T) {
	rc := newReceiver(t)
	ch := rc.channel()
	cases := []struct {
		name, capability string
		want             gateway.CheckStatus
		reason           string
	}{
		{"r4", `{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","status":"active","kind":"instance"}`, gateway.CheckOK, "FHIR 4.0.1"},
		{"no metadata", "", gateway.CheckFailed, "404"},
		{"not a capability statement", `{"resourceType":"OperationOutcome"}`, gateway.CheckFailed, "not a CapabilityStatement"},
		{"stu3", `{"resourceType":"CapabilityStatement","fhirVersion":"3.0.2"}`, gateway.CheckFailed, "not R4"},
	}
	for _, c := range cases {
		rc.mu.Lock()
		rc.capability = c.capability
		rc.mu.Unlock()
		st, why := ch.CheckEndpoint(context.Background(), rc.entry())
		if st != c.want || !strings.Contains(why, c.reason) {
			t.Errorf("%s: %s %q, want %s mentioning %q", c.name, st, why, c.want, c.reason)
		}
	}
	pull := &gateway.Entry{ID: "org-pull", OnPlatform: true, FHIR: &gateway.FHIREndpoint{}}
	if st, _ := ch.CheckEndpoint(context.Background(), pull); st != gateway.CheckOK {
		t.Errorf("pull-mode party: %s, want ok (nothing to reach)", st)
	}
	to := rc.entry()
	rc.srv.Close()
	if st, why := ch.CheckEndpoint(context.Background(), to); st != gateway.CheckUnknown {
		t.Errorf("server gone: %s %q, want unknown", st, why)
	}
}
