package smart

import (
	"errors"
	"fmt"
	"strings"
)

// Op is a set of FHIR interactions a scope permits, one bit per interaction;
// a single constant such as Read is also a one-element set.
type Op uint8

// The SMART v2 interactions, in the order their letters appear in "cruds".
const (
	Create Op = 1 << iota
	Read
	Update
	Delete
	Search
)

// allOps is every interaction, what v1 ".*" and v2 ".cruds" grant.
const allOps = Create | Read | Update | Delete | Search

// SMART v1 permission words and the v2 interaction sets they stand for.
const (
	v1Read  = Read | Search
	v1Write = Create | Update | Delete
)

// opLetters lists the v2 letters in their mandatory order.
var opLetters = [...]struct {
	op     Op
	letter byte
}{{Create, 'c'}, {Read, 'r'}, {Update, 'u'}, {Delete, 'd'}, {Search, 's'}}

// String renders the set in SMART v2 letter order, e.g. "rs"; "" when empty.
func (o Op) String() string {
	var b strings.Builder
	for _, l := range opLetters {
		if o&l.op != 0 {
			b.WriteByte(l.letter)
		}
	}
	return b.String()
}

// ErrScopeSyntax reports a scope string that is not a SMART system scope this
// package understands.
var ErrScopeSyntax = errors.New("smart: scope syntax")

// Scope is one parsed SMART system scope such as "system/Task.rs".
type Scope struct {
	// Resource is a FHIR resource type name, or "*" for every type.
	Resource string
	// Ops is the set of interactions granted on Resource; never empty.
	Ops Op
	// V1 records that the scope was written in SMART v1 syntax
	// (.read/.write/.*); String keeps that syntax when it can express Ops.
	V1 bool
}

// ParseScope parses a single SMART system scope in v1 syntax
// ("system/Task.read", "system/*.write", "system/Patient.*") or v2 syntax
// ("system/Task.rs", "system/*.cruds"). Other contexts (patient/, user/),
// launch and OpenID scopes, and v2 query parameters are refused with
// ErrScopeSyntax because a backend-services server never grants them.
func ParseScope(s string) (Scope, error) {
	rest, ok := strings.CutPrefix(s, "system/")
	if !ok {
		return Scope{}, fmt.Errorf("%w: %q: not a system/ scope", ErrScopeSyntax, s)
	}
	resource, perm, ok := strings.Cut(rest, ".")
	if !ok {
		return Scope{}, fmt.Errorf("%w: %q: missing permission", ErrScopeSyntax, s)
	}
	if !validResource(resource) {
		return Scope{}, fmt.Errorf("%w: %q: bad resource type", ErrScopeSyntax, s)
	}
	switch perm {
	case "read":
		return Scope{Resource: resource, Ops: v1Read, V1: true}, nil
	case "write":
		return Scope{Resource: resource, Ops: v1Write, V1: true}, nil
	case "*":
		return Scope{Resource: resource, Ops: allOps, V1: true}, nil
	}
	ops, err := parseLetters(perm)
	if err != nil {
		return Scope{}, fmt.Errorf("%w: %q: %v", ErrScopeSyntax, s, err)
	}
	return Scope{Resource: resource, Ops: ops}, nil
}

// parseLetters reads a v2 permission string: a non-empty subsequence of
// "cruds" in that order with no repeats.
func parseLetters(perm string) (Op, error) {
	if perm == "" {
		return 0, errors.New("empty permission")
	}
	var ops Op
	next := 0
	for i := 0; i < len(perm); i++ {
		found := false
		for next < len(opLetters) {
			l := opLetters[next]
			next++
			if l.letter == perm[i] {
				ops |= l.op
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("permission %q is not a subsequence of cruds", perm)
		}
	}
	return ops, nil
}

// validResource accepts "*" or a FHIR resource type name: an ASCII capital
// letter followed by ASCII letters, at most 64 characters.
func validResource(r string) bool {
	if r == "*" {
		return true
	}
	if r == "" || len(r) > 64 || r[0] < 'A' || r[0] > 'Z' {
		return false
	}
	for i := 1; i < len(r); i++ {
		c := r[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// String renders the scope, in v1 syntax when V1 is set and Ops is one of the
// v1 sets, otherwise in v2 syntax.
func (s Scope) String() string {
	if s.V1 {
		switch s.Ops {
		case v1Read:
			return "system/" + s.Resource + ".read"
		case v1Write:
			return "system/" + s.Resource + ".write"
		case allOps:
			return "system/" + s.Resource + ".*"
		}
	}
	return "system/" + s.Resource + "." + s.Ops.String()
}

// Allows reports whether the scope permits op on resourceType. op must be a
// single interaction; a multi-bit op is allowed only if every bit is.
func (s Scope) Allows(resourceType string, op Op) bool {
	if op == 0 || s.Ops&op != op {
		return false
	}
	return s.Resource == "*" || s.Resource == resourceType
}

// ParseScopes parses a space-separated scope parameter strictly: any
// unparseable element fails the whole list.
func ParseScopes(param string) ([]Scope, error) {
	var out []Scope
	for _, f := range strings.Fields(param) {
		s, err := ParseScope(f)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// FormatScopes renders scopes as a space-separated scope parameter.
func FormatScopes(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// intersect returns what both a requested and an allowed scope permit: the
// more specific resource type and the common interactions. ok is false when
// they share nothing.
func intersect(req, allowed Scope) (Scope, bool) {
	var resource string
	switch {
	case req.Resource == allowed.Resource:
		resource = req.Resource
	case allowed.Resource == "*":
		resource = req.Resource
	case req.Resource == "*":
		resource = allowed.Resource
	default:
		return Scope{}, false
	}
	ops := req.Ops & allowed.Ops
	if ops == 0 {
		return Scope{}, false
	}
	return Scope{Resource: resource, Ops: ops, V1: req.V1}, true
}

// grantScopes computes the scopes to grant for a space-separated request
// against a client's allowed scope strings. Each requested scope is cut down
// to what the allowed scopes cover; requested scopes that cannot be parsed or
// that share nothing with the allowed set are dropped. Allowed strings that
// do not parse are ignored. The result is in request order without
// duplicates.
func grantScopes(requested string, allowed []string) []Scope {
	var allow []Scope
	for _, a := range allowed {
		if s, err := ParseScope(a); err == nil {
			allow = append(allow, s)
		}
	}
	var granted []Scope
	seen := make(map[string]bool)
	for _, f := range strings.Fields(requested) {
		req, err := ParseScope(f)
		if err != nil {
			continue
		}
		for _, a := range allow {
			g, ok := intersect(req, a)
			if !ok {
				continue
			}
			key := g.String()
			if !seen[key] {
				seen[key] = true
				granted = append(granted, g)
			}
		}
	}
	return granted
}
