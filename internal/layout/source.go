package layout

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
	"strings"
)

// SourceRule forbids the non-test code of the packages it governs to
// name certain identifiers of a module package or to call a method by
// name: what an import graph cannot show (an edge importing the core is
// fine; an edge reaching past the core's Service into its store is not).
type SourceRule struct {
	// Name is the rule as the README says it.
	Name string
	// Governs reports whether the rule applies to a module package, given
	// its path relative to Module.
	Governs func(rel string) bool
	// Package is the module package (relative to Module) whose names are
	// forbidden, and Names those names ("Store" forbids gateway.Store).
	Package string
	Names   []string
	// Calls are method names whose call with no arguments is forbidden
	// (x.Store()).
	Calls []string
}

// coreStore lists the core and the packages that implement or test its
// store: they alone work with Store and Tx.
var coreStore = []string{"gateway", "gateway/sqlstore", "gateway/pgstore", "gateway/litestore", "gateway/storetest"}

func isCoreStore(rel string) bool {
	for _, p := range coreStore {
		if rel == p {
			return true
		}
	}
	return false
}

// SourceRules are the README's rules that need the source.
var SourceRules = []SourceRule{
	{
		Name:    "edges reach data only through the core's Service, never its store",
		Governs: func(rel string) bool { return !isCoreStore(rel) && !under(rel, "cmd") },
		Package: "gateway",
		Names:   []string{"Store", "Tx", "Document"},
		Calls:   []string{"Store"},
	},
	{
		Name:    "cmd wires the store but never works past the core's Service",
		Governs: func(rel string) bool { return under(rel, "cmd") },
		Calls:   []string{"Store"},
	},
}

// File is one Go source file of a package.
type File struct {
	Name string
	Src  []byte
}

// CheckSource parses each governed package's non-test files and returns
// each use of a forbidden name or call.
func CheckSource(files map[string][]File, rules []SourceRule) ([]Violation, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []Violation
	for _, p := range paths {
		r := rel(p)
		if r == "" {
			continue
		}
		for _, f := range files[p] {
			fset := token.NewFileSet()
			af, err := parser.ParseFile(fset, f.Name, f.Src, parser.SkipObjectResolution)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", f.Name, err)
			}
			for _, rule := range rules {
				if rule.Governs(r) {
					out = append(out, checkFile(fset, af, r, rule)...)
				}
			}
		}
	}
	return out, nil
}

// checkFile reports the uses of rule's names and calls in one file.
func checkFile(fset *token.FileSet, f *ast.File, pkg string, rule SourceRule) []Violation {
	qual := ""
	if rule.Package != "" {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path != Module+"/"+rule.Package {
				continue
			}
			qual = rule.Package[strings.LastIndex(rule.Package, "/")+1:]
			if imp.Name != nil {
				qual = imp.Name.Name
			}
		}
	}
	var out []Violation
	report := func(n ast.Node, what string) {
		out = append(out, Violation{Rule: rule.Name, Package: pkg, Via: []string{fset.Position(n.Pos()).String(), what}})
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && qual != "" && qual != "_" && id.Name == qual {
				for _, name := range rule.Names {
					if n.Sel.Name == name {
						report(n, qual+"."+name)
					}
				}
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && len(n.Args) == 0 {
				for _, c := range rule.Calls {
					if sel.Sel.Name == c {
						report(n, "."+c+"()")
					}
				}
			}
		}
		return true
	})
	return out
}
