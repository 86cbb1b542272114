package layout

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Module is the module path the rules speak of.
const Module = "github.com/referralgw/gateway"

// Package is one node of the import graph.
type Package struct {
	// Path is the import path.
	Path string
	// Standard marks packages of the Go standard library.
	Standard bool
	// Dir and GoFiles are its directory and non-test Go files (for the
	// source rules).
	Dir     string
	GoFiles []string
	// Imports are the package's direct imports; TestImports those of its
	// tests (internal and external), which count for it but not for the
	// packages that import it.
	Imports, TestImports []string
}

// Rule forbids the packages it governs to reach certain others.
type Rule struct {
	// Name is the rule as the README says it.
	Name string
	// Governs reports whether the rule applies to a module package, given
	// its path relative to Module ("gateway/sqlstore").
	Governs func(rel string) bool
	// Forbids reports whether reaching dep is a violation for pkg; rel is
	// the dep's path relative to Module, or "" outside the module.
	Forbids func(pkg, dep, rel string, standard bool) bool
}

// Violation is one forbidden path through the graph.
type Violation struct {
	Rule    string
	Package string   // the governed package, relative to Module
	Via     []string // the import chain from Package to the forbidden one
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s (via %s)", v.Rule, v.Package, strings.Join(v.Via, " -> "))
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// channels are the delivery channels' trees.
var channels = []string{"fhir", "direct", "fax"}

// channelOf returns the channel tree rel is in, or "".
func channelOf(rel string) string {
	for _, c := range channels {
		if under(rel, c) {
			return c
		}
	}
	return ""
}

// Protocol lists the protocol packages: they stand alone. The HTTP
// Retry-After parser (internal/retryafter), the client-address key of
// the per-client limits (internal/peer), the failure allowance those
// limits keep (internal/allowance), the egress address rule
// (internal/publicaddr) and the rate-limited warning log of the listeners
// (internal/quietlog) are five, outside the channel
// trees, so that the protocol packages of direct, fhir and fax may use
// them as the gateway's own edges do.
// The OpenSSL
// test CA (direct/internal/osslca) and the DNS and slapd test servers
// (direct/dirtest, outside internal/ so the command's tests can use them
// too) are listed with them: protocol packages' tests use them, and they
// too import only protocol packages.
var Protocol = []string{
	"direct/certs", "direct/mdn", "direct/message", "direct/smime", "direct/smtpin", "direct/smtpout",
	"direct/internal/osslca", "direct/dirtest",
	"fax/packet", "fax/phaxio", "fax/faxsim", "fhir/smart",
	"internal/retryafter", "internal/peer", "internal/publicaddr", "internal/allowance", "internal/quietlog",
}

// AuditMayImport are the libraries outside the standard library that audit
// may use: the transparency-log libraries, and what
// transparency-dev/formats/note (the witness's cosignature/v1 signer)
// brings along (filippo.io/mldsa, golang.org/x/crypto).
var AuditMayImport = []string{"github.com/transparency-dev/", "golang.org/x/mod/sumdb/", "filippo.io/mldsa", "golang.org/x/crypto/"}

func isProtocol(rel string) bool {
	return slices.ContainsFunc(Protocol, func(p string) bool { return under(rel, p) })
}

// isKit reports whether rel is a channel's internal test kit (such as
// direct/internal/osslca): protocol packages may use it, and what it
// imports is checked in turn.
func isKit(rel string) bool { return channelOf(rel) != "" && strings.Contains(rel, "/internal/") }

// Rules are the README's import rules.
var Rules = []Rule{
	{
		Name:    "audit imports only the standard library",
		Governs: func(rel string) bool { return under(rel, "audit") },
		Forbids: func(_, dep, rel string, std bool) bool {
			if std || under(rel, "audit") {
				return false
			}
			return !slices.ContainsFunc(AuditMayImport, func(p string) bool { return strings.HasPrefix(dep, p) })
		},
	},
	{
		Name:    "gateway may import audit, never a channel",
		Governs: func(rel string) bool { return under(rel, "gateway") },
		Forbids: func(_, _, rel string, _ bool) bool { return channelOf(rel) != "" },
	},
	{
		Name:    "fhir, direct and fax never import each other",
		Governs: func(rel string) bool { return channelOf(rel) != "" },
		Forbids: func(pkg, _, rel string, _ bool) bool {
			c := channelOf(rel)
			return c != "" && c != channelOf(pkg)
		},
	},
	{
		Name:    "only cmd knows them all: nothing imports cmd",
		Governs: func(rel string) bool { return !under(rel, "cmd") },
		Forbids: func(_, _, rel string, _ bool) bool { return under(rel, "cmd") },
	},
	{
		Name:    "protocol packages import nothing of the gateway",
		Governs: isProtocol,
		Forbids: func(_, _, rel string, _ bool) bool { return rel != "" && !isProtocol(rel) && !isKit(rel) },
	},
}

// rel returns path relative to Module, or "" outside it.
func rel(path string) string {
	if path == Module {
		return "."
	}
	if r, ok := strings.CutPrefix(path, Module+"/"); ok {
		return r
	}
	return ""
}

// Check walks, for every module package in graph, everything it reaches
// (its imports and its tests' imports, then their imports, transitively)
// and returns each rule violation with the chain that leads to it. An
// import missing from graph is treated as outside the standard library.
func Check(graph map[string]*Package, rules []Rule) []Violation {
	var out []Violation
	paths := make([]string, 0, len(graph))
	for p := range graph {
		if rel(p) != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		r := rel(p)
		var governing []Rule
		for _, rule := range rules {
			if rule.Governs(r) {
				governing = append(governing, rule)
			}
		}
		if len(governing) == 0 {
			continue
		}
		// Breadth-first, so each chain reported is a shortest one.
		from := map[string]string{p: ""}
		queue := []string{}
		for _, d := range append(slices.Clone(graph[p].Imports), graph[p].TestImports...) {
			if _, seen := from[d]; !seen {
				from[d] = p
				queue = append(queue, d)
			}
		}
		reported := map[string]bool{}
		for len(queue) > 0 {
			d := queue[0]
			queue = queue[1:]
			dp := graph[d]
			// "C" is cgo's pseudo-package (net imports it); it is part of the toolchain.
			std := dp != nil && dp.Standard || d == "C"
			for _, rule := range governing {
				if !reported[rule.Name] && rule.Forbids(r, d, rel(d), std) {
					reported[rule.Name] = true
					out = append(out, Violation{Rule: rule.Name, Package: r, Via: chain(from, d)})
				}
			}
			if dp == nil {
				continue
			}
			for _, n := range dp.Imports {
				if _, seen := from[n]; !seen {
					from[n] = d
					queue = append(queue, n)
				}
			}
		}
	}
	return out
}

// chain rebuilds the import chain that reached d.
func chain(from map[string]string, d string) []string {
	var c []string
	for x := d; x != ""; x = from[x] {
		name := x
		if r := rel(x); r != "" {
			name = r
		}
		c = append([]string{name}, c...)
	}
	return c
}
