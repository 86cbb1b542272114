package admin_test

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestAuditPageShowsPublicKey: the console's audit page and the API show
// the audit log's public key an auditor checks checkpoints and receipts
// with, the same one the verification uses.
func TestAuditPageShowsPublicKey(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	_, vkey, err := audit.GenerateSigningKey("gw.test")
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetAuditVerifier(gateway.AuditVerifier{Key: v, KeyText: vkey})
	c := e.mustLogin("audrey", admin.RoleAuditor)
	page := c.do("GET", "/admin/audit", nil)
	if page.status != http.StatusOK || !strings.Contains(html.UnescapeString(string(page.body)), vkey) {
		t.Fatalf("audit page: %d, key %q not shown", page.status, vkey)
	}
	r := c.do("GET", "/admin/v1/audit/verify", nil)
	var rep admin.VerifyReport
	r.json(t, &rep)
	if rep.PublicKey != vkey {
		t.Fatalf("API public key %q, want %q", rep.PublicKey, vkey)
	}
}
