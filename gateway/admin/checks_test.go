package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestEntryShowsGatewayChecks: an entry the gateway checked shows each
// channel's last check in the API (read-only "checks") and on the
// console's entry page, with the reason of a failure.
func TestEntryShowsGatewayChecks(t *testing.T) {
	e := newEnv(t, storetest.Behavior{Check: gateway.CheckFailed, CheckReason: "metadata: receiver refused with 404"})
	e.seed()
	if _, err := e.svc.CheckEntry(e.ctx, "cardio-b"); err != nil {
		t.Fatal(err)
	}
	c := e.mustLogin("ada", admin.RoleAdmin)
	res := c.do("GET", "/admin/v1/entries/cardio-b", nil)
	var got gateway.Entry
	res.json(t, &got)
	if res.status != http.StatusOK || len(got.Checks) != 1 || got.Checks[0].Status != gateway.CheckFailed || got.Checks[0].Channel != gateway.ChannelFHIR {
		t.Fatalf("API entry: %d %+v, want the failed fhir check", res.status, got.Checks)
	}
	cc, _ := e.consoleLogin("grace", admin.RoleAdmin)
	p := cc.page("GET", "/admin/directory/cardio-b", nil)
	if p.status != http.StatusOK || !strings.Contains(p.html, "Gateway checks") || !strings.Contains(p.html, "metadata: receiver refused with 404") {
		t.Fatalf("console entry page: %d, checks section missing:\n%s", p.status, p.html)
	}
}
