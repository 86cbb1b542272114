package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fhir/smart"
)

// entryNeed is the SMART scope one transaction entry's own interaction
// needs: the interaction on the resource type its request names.
type entryNeed struct {
	index  int
	method string
	typ    string
	op     smart.Op
	// search is the search the entry runs before its own interaction
	// (ifNoneExist, or criteria in the URL of a PUT, PATCH or DELETE);
	// empty when the need is the interaction itself.
	search string
}

// scope is the system scope that grants the need.
func (n entryNeed) scope() string { return "system/" + n.typ + "." + n.op.String() }

// transactionNeeds reads, from a transaction Bundle, what each entry's
// request asks to do. An entry that searches before it acts (a
// conditional create's ifNoneExist, a conditional update or delete's
// criteria) also needs search on the type it searches: the answer tells
// the client whether a match exists. Entries without a request or with a
// method that is no interaction are left to the full parse, which refuses
// them; nothing
// here refuses content except a body that does not decode and a POST whose
// resource is not of the type its URL names (the URL decides what the
// entry does, so the two must agree).
func transactionNeeds(body []byte) ([]entryNeed, error) {
	var b struct {
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
			Request *struct {
				Method      string `json:"method"`
				URL         string `json:"url"`
				IfNoneExist string `json:"ifNoneExist"`
			} `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		// Fail closed: what cannot be read cannot be authorised.
		return nil, newAPIError(http.StatusBadRequest, "structure", "the body is not a well-formed transaction Bundle")
	}
	var out []entryNeed
	for i, e := range b.Entry {
		if e.Request == nil {
			continue
		}
		typ, op, ok := interactionOf(e.Request.Method, e.Request.URL)
		if !ok {
			continue
		}
		res := e.Resource.ResourceType
		if typ == "" {
			typ = res
		}
		if typ == "" {
			continue
		}
		if e.Request.Method == http.MethodPost && op == smart.Create && res != "" && res != typ {
			return nil, newAPIError(http.StatusBadRequest, "invalid", fmt.Sprintf(
				"Bundle.entry[%d] posts a %s to %s: request.url names the type the entry creates", i, res, typ),
				fmt.Sprintf("Bundle.entry[%d].request.url", i))
		}
		out = append(out, entryNeed{index: i, method: e.Request.Method, typ: typ, op: op})
		_, query, _ := strings.Cut(e.Request.URL, "?")
		switch {
		case op == smart.Create && e.Request.IfNoneExist != "":
			out = append(out, entryNeed{index: i, method: e.Request.Method, typ: typ, op: smart.Search, search: "ifNoneExist"})
		case (op == smart.Update || op == smart.Delete) && query != "":
			out = append(out, entryNeed{index: i, method: e.Request.Method, typ: typ, op: smart.Search, search: "conditional criteria"})
		}
	}
	return out, nil
}

// interactionOf maps an entry's request to the resource type it acts on
// (empty when the URL names none) and the SMART interaction it is:
// create for a POST, update for PUT and PATCH (conditional or not),
// delete for DELETE, read for a GET of one resource or its history, search
// for a GET with criteria or of a whole type. ok is false for a method
// that is no FHIR interaction.
func interactionOf(method, rawURL string) (typ string, op smart.Op, ok bool) {
	path, query, _ := strings.Cut(rawURL, "?")
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	i := slices.IndexFunc(segs, resourceTypeName)
	var rest []string
	if i >= 0 {
		typ, rest = segs[i], segs[i+1:]
	}
	switch method {
	case http.MethodPost:
		if len(rest) > 0 && rest[0] == "_search" {
			return typ, smart.Search, true
		}
		return typ, smart.Create, true
	case http.MethodPut, http.MethodPatch:
		return typ, smart.Update, true
	case http.MethodDelete:
		return typ, smart.Delete, true
	case http.MethodGet, http.MethodHead:
		if query != "" || len(rest) == 0 || strings.HasPrefix(rest[0], "_") {
			return typ, smart.Search, true
		}
		return typ, smart.Read, true
	}
	return "", 0, false
}

// resourceTypeName reports a URL segment that can be a resource type: an
// ASCII capital followed by ASCII letters.
func resourceTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s[1:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// allowEntries checks every entry against the scope its own interaction
// needs, before anything is stored. Each entry the token does not cover
// is named in the OperationOutcome (code forbidden), all of them in one
// answer; the refusal is audited and the Bearer challenge names every
// scope missing.
func (h *Handler) allowEntries(ctx context.Context, c *call, needs []entryNeed) error {
	var missing []entryNeed
	for _, n := range needs {
		if !c.p.Allows(n.typ, n.op) {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var scopes, entries []string
	var issues []Issue
	for _, n := range missing {
		if !slices.Contains(scopes, n.scope()) {
			scopes = append(scopes, n.scope())
		}
		at := fmt.Sprintf("Bundle.entry[%d]", n.index)
		if !slices.Contains(entries, at) {
			entries = append(entries, at)
		}
		what := fmt.Sprintf("%s (%s %s)", at, n.method, n.typ)
		if n.search != "" {
			what = fmt.Sprintf("%s (%s %s with %s) searches %s for a match and", at, n.method, n.typ, n.search, n.typ)
		}
		issues = append(issues, Issue{Severity: "error", Code: "forbidden", Expression: []string{at},
			Diagnostics: fmt.Sprintf("%s needs scope %s%s, which the access token lacks; nothing of the transaction was stored",
				what, n.scope(), v1Hint(n.typ, n.op))})
	}
	h.record(ctx, audit.Event{Actor: c.actor.ID, Tenants: []string{c.p.OrgID}, Action: "auth.scope.refused",
		Outcome: audit.OutcomeRefused, Detail: map[string]string{"needed": strings.Join(scopes, " "),
			"entries": strings.Join(entries, " "), "token": c.p.TokenID}})
	ae := &apiError{status: http.StatusForbidden, issue: issues[0], more: issues[1:]}
	// RFC 6750 §3.1: the challenge names the scope needed (a list of them).
	ae.header = map[string]string{"WWW-Authenticate": `Bearer realm="fhir", error="insufficient_scope", scope="` + strings.Join(scopes, " ") + `"`}
	return ae
}
