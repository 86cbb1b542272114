package layout

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestImportRules checks the module as it is.
func TestImportRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	graph, err := Load(ctx, "../..", "./...")
	if err != nil {
		t.Fatal(err)
	}
	if graph[Module+"/gateway"] == nil || graph[Module+"/audit"] == nil || graph["fmt"] == nil || !graph["fmt"].Standard {
		t.Fatalf("the graph lacks the module's packages or the standard library (%d packages)", len(graph))
	}
	for _, v := range Check(graph, Rules) {
		t.Errorf("%s", v)
	}
	files, err := Sources(graph)
	if err != nil {
		t.Fatal(err)
	}
	if len(files[Module+"/fhir/subscription"]) == 0 || len(files[Module+"/cmd/gateway"]) == 0 {
		t.Fatalf("the sources lack the module's packages (%d packages)", len(files))
	}
	vs, err := CheckSource(files, SourceRules)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("%s", v)
	}
}

// graphOf builds a synthetic graph: "a -> b c" lines, module-relative
// names for module packages, "std:" for standard library ones.
func graphOf(lines ...string) map[string]*Package {
	g := map[string]*Package{}
	name := func(s string) string {
		if p, ok := strings.CutPrefix(s, "std:"); ok {
			if g[p] == nil {
				g[p] = &Package{Path: p, Standard: true}
			}
			return p
		}
		if strings.Contains(s, ".") && strings.Contains(s, "/") {
			return s // a third-party module
		}
		return Module + "/" + s
	}
	for _, l := range lines {
		from, to, _ := strings.Cut(l, " -> ")
		test := strings.HasPrefix(from, "test:")
		from = name(strings.TrimPrefix(from, "test:"))
		if g[from] == nil {
			g[from] = &Package{Path: from}
		}
		for _, d := range strings.Fields(to) {
			d = name(d)
			if g[d] == nil && !g[d].isStd() {
				g[d] = &Package{Path: d}
			}
			if test {
				g[from].TestImports = append(g[from].TestImports, d)
			} else {
				g[from].Imports = append(g[from].Imports, d)
			}
		}
	}
	return g
}

func (p *Package) isStd() bool { return p != nil && p.Standard }

// TestCheckerCatchesBrokenRules breaks each rule in a synthetic graph, directly,
// transitively and from test code, and checks the checker names it; a
// graph that keeps the rules passes.
func TestCheckerCatchesBrokenRules(t *testing.T) {
	good := []string{
		"audit -> std:fmt std:crypto/sha256",
		"gateway -> audit std:context",
		"gateway/sqlstore -> gateway audit github.com/riverqueue/river",
		"fhir/api -> gateway audit fhir/smart",
		"direct/channel -> gateway direct/smime direct/smtpout",
		"direct/smime -> std:crypto/x509 direct/certs",
		"fax/faxsim -> fax/phaxio fax/packet",
		"test:direct/smime -> direct/internal/kit",
		"direct/internal/kit -> std:os/exec",
		"cmd/gateway -> gateway fhir/api direct/channel fax/faxsim audit",
		"test:gateway -> gateway/storetest",
		"gateway/storetest -> gateway gateway/sqlstore",
	}
	if v := Check(graphOf(good...), Rules); len(v) != 0 {
		t.Fatalf("a graph that keeps the rules: %v", v)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		rule  string
		via   string
	}{
		{"audit imports a library", []string{"audit -> github.com/some/lib"}, "audit imports only", "audit -> github.com/some/lib"},
		{"audit reaches the core", []string{"audit/export -> gateway", "audit -> audit/export"}, "audit imports only", "audit -> audit/export -> gateway"},
		{"core imports a channel", []string{"gateway/admin -> fhir/smart"}, "gateway may import audit, never a channel", "gateway/admin -> fhir/smart"},
		{"core reaches a channel transitively", []string{"gateway/sqlstore -> gateway/helper", "gateway/helper -> direct/certs"},
			"never a channel", "gateway/sqlstore -> gateway/helper -> direct/certs"},
		{"a core test imports a channel", []string{"test:gateway/sqlstore -> fax/phaxio"}, "never a channel", "gateway/sqlstore -> fax/phaxio"},
		{"channels import each other", []string{"fhir/api -> direct/channel"}, "never import each other", "fhir/api -> direct/channel"},
		{"a channel test imports another", []string{"test:fax/channel -> fhir/push", "fhir/push -> gateway"}, "never import each other", "fax/channel -> fhir/push"},
		{"a package imports cmd", []string{"fax/channel -> cmd/gateway"}, "nothing imports cmd", "fax/channel -> cmd/gateway"},
		{"a protocol package imports the core", []string{"direct/mdn -> gateway"}, "protocol packages", "direct/mdn -> gateway"},
		{"a protocol package reaches the core", []string{"direct/smime -> audit"}, "protocol packages", "direct/smime -> audit"},
		{"a protocol package reaches the core through a test kit", []string{"test:direct/smime -> direct/internal/kit", "direct/internal/kit -> gateway"},
			"protocol packages", "direct/smime -> direct/internal/kit -> gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := Check(graphOf(append(append([]string{}, good...), tc.extra...)...), Rules)
			for _, v := range vs {
				if strings.Contains(v.Rule, tc.rule) && strings.Join(v.Via, " -> ") == tc.via {
					return
				}
			}
			t.Fatalf("no violation of %q via %q; got %v", tc.rule, tc.via, vs)
		})
	}
}

func TestParseFoldsTestVariants(t *testing.T) {
	out := `{"ImportPath": "fmt", "Standard": true}
{"ImportPath": "` + Module + `/gateway", "Imports": ["fmt"], "TestImports": ["testing"], "XTestImports": ["` + Module + `/gateway/storetest"]}
{"ImportPath": "` + Module + `/gateway [` + Module + `/gateway.test]", "ForTest": "` + Module + `/gateway", "Imports": ["fmt", "testing"]}
{"ImportPath": "` + Module + `/gateway.test", "Imports": ["os"]}`
	g, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	p := g[Module+"/gateway"]
	if len(g) != 2 || p == nil || !g["fmt"].Standard || len(p.TestImports) != 2 || p.TestImports[1] != Module+"/gateway/storetest" {
		t.Fatalf("graph: %+v / %+v", g, p)
	}
}
