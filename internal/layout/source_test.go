package layout

import (
	"strings"
	"testing"
)

// TestSourceRulesCatchEdgesReachingTheStore breaks each source rule in a
// synthetic file and checks the checker names it; code that keeps to the
// core's Service, and the core's own store packages, pass.
func TestSourceRulesCatchEdgesReachingTheStore(t *testing.T) {
	const header = "package x\n\nimport \"" + Module + "/gateway\"\n\n"
	good := map[string][]File{
		Module + "/fhir/subscription": {{Name: "ok.go", Src: []byte(header +
			"func f(svc *gateway.Service) { _, _ = svc.Subscription(nil, \"id\"); var _ gateway.Job }\n")}},
		Module + "/gateway/storetest": {{Name: "st.go", Src: []byte(header +
			"func f(svc *gateway.Service, tx gateway.Tx) gateway.Store { return svc.Store() }\n")}},
		Module + "/cmd/gateway": {{Name: "app.go", Src: []byte(header +
			"func wrap(s gateway.Store) gateway.Store { return s }\n")}},
	}
	if vs, err := CheckSource(good, SourceRules); err != nil || len(vs) != 0 {
		t.Fatalf("code that keeps the rules: %v %v", vs, err)
	}
	for _, tc := range []struct {
		name, pkg, src, rule, what string
	}{
		{"an edge names the store", "fhir/subscription", header + "func f(s gateway.Store) {}\n", "never its store", "gateway.Store"},
		{"an edge names a transaction", "gateway/admin", header + "func f(fn func(gateway.Tx) error) {}\n", "never its store", "gateway.Tx"},
		{"an edge keeps documents", "fhir/smartstore", header + "var d gateway.Document\n", "never its store", "gateway.Document"},
		{"an edge calls Store()", "direct/inbound", header + "func f(svc *gateway.Service) { _ = svc.Store() }\n", "never its store", ".Store()"},
		{"an aliased import", "fax/callback", "package x\n\nimport core \"" + Module + "/gateway\"\n\nvar _ core.Tx\n", "never its store", "core.Tx"},
		{"cmd calls Store()", "cmd/gateway", header + "func f(svc *gateway.Service) { _ = svc.Store() }\n", "cmd wires the store", ".Store()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]File{}
			for k, v := range good {
				files[k] = v
			}
			files[Module+"/"+tc.pkg] = append(files[Module+"/"+tc.pkg], File{Name: "bad.go", Src: []byte(tc.src)})
			vs, err := CheckSource(files, SourceRules)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				if strings.Contains(v.Rule, tc.rule) && v.Package == tc.pkg && v.Via[len(v.Via)-1] == tc.what {
					return
				}
			}
			t.Fatalf("no violation of %q by %s (%s); got %v", tc.rule, tc.pkg, tc.what, vs)
		})
	}
}
