package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// scopedToken registers a client of org-north (with ehr-north's key)
// allowed exactly scopes, and returns a token granting them.
func (e *env) scopedToken(t *testing.T, id string, scopes ...string) string {
	t.Helper()
	e.reg.Put(smart.Client{ID: id, OrgID: orgNorth, Scopes: scopes, JWKS: smart.JWKS{{KID: "ehr-north-key", Key: &e.keys["ehr-north"].PublicKey}}})
	ts := e.tokenSource("ehr-north")
	ts.ClientID, ts.Scopes = id, scopes
	tok, err := ts.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// referralCount counts org-north's referrals.
func (e *env) referralCount(t *testing.T) int {
	t.Helper()
	list, err := e.svc.ListReferrals(t.Context(), gateway.ReferralQuery{RequesterOrg: orgNorth})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// wantScopeRefusal checks a 403 for a missing scope: a forbidden issue
// naming it and the insufficient_scope challenge.
func wantScopeRefusal(t *testing.T, res *response, scope string) {
	t.Helper()
	res.want(t, http.StatusForbidden)
	var oo OperationOutcome
	res.decode(t, &oo)
	if len(oo.Issue) == 0 || oo.Issue[0].Code != "forbidden" || !strings.Contains(oo.Issue[0].Diagnostics, scope) {
		t.Errorf("outcome %s, want a forbidden issue naming %s", res.body, scope)
	}
	if got, want := res.header.Get("WWW-Authenticate"), `scope="`+scope+`"`; !strings.Contains(got, want) {
		t.Errorf("WWW-Authenticate %q, want it to name %s", got, scope)
	}
}

// TestConditionalCreateNeedsSearchScope: a conditional create searches the
// type for a match and tells the client whether one exists, so besides the
// create scope it needs search on that type (v2 .s, v1 read), for POST
// Task, POST ServiceRequest and a transaction entry's ifNoneExist alike.
// Without it the answer is the same 403 whether a match exists or not.
// With create and search but not read, a match answers 200 without the
// resource's content.
func TestConditionalCreateNeedsSearchScope(t *testing.T) {
	e := newEnv(t)
	const system = "https://north.example.org/referrals|"
	ifNoneExist := func(ident string) []string { return []string{"If-None-Exist", "identifier=" + system + ident} }
	all := e.token(t, "ehr-north")
	e.do(t, all, "POST", "/fhir/Task", containedTask("CS-EXISTS", "draft")).want(t, http.StatusCreated)
	e.do(t, all, "POST", "/fhir/ServiceRequest", serviceRequest("CS-SR-EXISTS", orgOrtho)).want(t, http.StatusCreated)

	t.Run("POST Task", func(t *testing.T) {
		for i, scopes := range [][]string{{"system/Task.c"}, {"system/Task.cr"}, {"system/Task.cud"}, {"system/Task.write"}} {
			tok := e.scopedToken(t, fmt.Sprintf("task-cond-%d", i), scopes...)
			for _, ident := range []string{"CS-EXISTS", "CS-NEW"} {
				before := e.referralCount(t)
				res := e.do(t, tok, "POST", "/fhir/Task", containedTask(ident, "draft"), ifNoneExist(ident)...)
				wantScopeRefusal(t, res, "system/Task.s")
				if got := e.referralCount(t); got != before {
					t.Errorf("%v: a refused conditional create stored %d referrals", scopes, got-before)
				}
			}
		}
		// Without the condition the create scope is enough.
		tok := e.scopedToken(t, "task-create-only", "system/Task.c")
		e.do(t, tok, "POST", "/fhir/Task", containedTask("CS-PLAIN", "draft")).want(t, http.StatusCreated)
	})

	t.Run("POST Task with create and search", func(t *testing.T) {
		for i, scopes := range [][]string{{"system/Task.cs"}, {"system/Task.read", "system/Task.write"}} {
			tok := e.scopedToken(t, fmt.Sprintf("task-cs-%d", i), scopes...)
			ident := fmt.Sprintf("CS-BOTH-%d", i)
			e.do(t, tok, "POST", "/fhir/Task", containedTask(ident, "draft"), ifNoneExist(ident)...).want(t, http.StatusCreated)
			again := e.do(t, tok, "POST", "/fhir/Task", containedTask(ident, "draft"), ifNoneExist(ident)...).want(t, http.StatusOK)
			if again.header.Get("ETag") == "" || again.header.Get("Location") == "" {
				t.Errorf("%v: a matched conditional create without ETag or Location: %v", scopes, again.header)
			}
			readable := len(scopes) == 2 // v1 read grants read
			if got := len(again.body) > 0; got != readable {
				t.Errorf("%v: matched answer has a body %t, want %t: %s", scopes, got, readable, again.body)
			}
		}
	})

	t.Run("POST ServiceRequest", func(t *testing.T) {
		tok := e.scopedToken(t, "sr-create-only", "system/ServiceRequest.c")
		for _, ident := range []string{"CS-SR-EXISTS", "CS-SR-NEW"} {
			res := e.do(t, tok, "POST", "/fhir/ServiceRequest", serviceRequest(ident, orgOrtho), ifNoneExist(ident)...)
			wantScopeRefusal(t, res, "system/ServiceRequest.s")
		}
		tok = e.scopedToken(t, "sr-create-search", "system/ServiceRequest.cs")
		res := e.do(t, tok, "POST", "/fhir/ServiceRequest", serviceRequest("CS-SR-EXISTS", orgOrtho), ifNoneExist("CS-SR-EXISTS")...).want(t, http.StatusOK)
		if len(res.body) != 0 || res.header.Get("Location") == "" {
			t.Errorf("matched without read scope: body %s, Location %q", res.body, res.header.Get("Location"))
		}
	})

	t.Run("transaction entry ifNoneExist", func(t *testing.T) {
		creates := []string{"system/ServiceRequest.c", "system/Patient.c", "system/DocumentReference.c"}
		tok := e.scopedToken(t, "tx-create-only", append([]string{"system/Task.c"}, creates...)...)
		for _, ident := range []string{"CS-TX-1", "CS-TX-1"} { // the second time a match would exist
			before := e.referralCount(t)
			res := e.do(t, tok, "POST", "/fhir", transaction(ident, "draft"))
			wantScopeRefusal(t, res, "system/Task.s")
			var oo OperationOutcome
			res.decode(t, &oo)
			if len(oo.Issue) != 1 || strings.Join(oo.Issue[0].Expression, "") != "Bundle.entry[0]" || !strings.Contains(oo.Issue[0].Diagnostics, "ifNoneExist") {
				t.Errorf("outcome %s, want one issue on Bundle.entry[0] about its ifNoneExist", res.body)
			}
			if got := e.referralCount(t); got != before {
				t.Errorf("a refused transaction stored %d referrals", got-before)
			}
			// The same transaction stored by a client that may search, so
			// that the second round has a match to hide.
			e.do(t, all, "POST", "/fhir", transaction(ident, "draft")).want(t, http.StatusOK)
		}
		tok = e.scopedToken(t, "tx-create-search", append([]string{"system/Task.cs"}, creates...)...)
		e.do(t, tok, "POST", "/fhir", transaction("CS-TX-1", "draft")).want(t, http.StatusOK)
	})

	t.Run("transaction entry with conditional criteria", func(t *testing.T) {
		// A conditional delete searches too: its need of search is named
		// beside its need of delete.
		body := strings.Replace(string(transaction("CS-TX-DEL", "draft")), `"request":{"method":"POST","url":"Patient"}`,
			`"request":{"method":"DELETE","url":"Patient?identifier=urn:example:mrn|MRN-CS-TX-DEL"}`, 1)
		tok := e.scopedToken(t, "tx-delete", "system/Task.cs", "system/ServiceRequest.c", "system/Patient.cd", "system/DocumentReference.c")
		res := e.do(t, tok, "POST", "/fhir", []byte(body))
		wantScopeRefusal(t, res, "system/Patient.s")
	})
}

// TestNarrowedRegistrationAppliesToIssuedTokens: a token grants what the
// client's registration still allows at each request. Scopes an
// administrator takes away end at once, as disabling does, and a client
// moved to another organisation no longer acts for the first with a token
// issued before.
func TestNarrowedRegistrationAppliesToIssuedTokens(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "NARROW-1", "requested")
	key := smart.JWKS{{KID: "ehr-north-key", Key: &e.keys["ehr-north"].PublicKey}}
	tok := e.scopedToken(t, "narrowed", "system/Task.rs", "system/ServiceRequest.r")
	e.do(t, tok, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK)
	e.do(t, tok, "GET", "/fhir/ServiceRequest/"+id, nil).want(t, http.StatusOK)

	e.reg.Put(smart.Client{ID: "narrowed", OrgID: orgNorth, Scopes: []string{"system/Task.r"}, JWKS: key})
	e.do(t, tok, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK)
	wantScopeRefusal(t, e.do(t, tok, "GET", "/fhir/Task?identifier=NARROW-1", nil), "system/Task.s")
	wantScopeRefusal(t, e.do(t, tok, "GET", "/fhir/ServiceRequest/"+id, nil), "system/ServiceRequest.r")

	e.reg.Put(smart.Client{ID: "narrowed", OrgID: orgNorth, Scopes: []string{"system/Patient.r"}, JWKS: key})
	if res := e.do(t, tok, "GET", "/fhir/Task/"+id, nil); res.status != http.StatusUnauthorized || !strings.Contains(res.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("no scope of the token left: HTTP %d %q, want 401 invalid_token", res.status, res.header.Get("WWW-Authenticate"))
	}

	e.reg.Put(smart.Client{ID: "narrowed", OrgID: orgOther, Scopes: []string{"system/Task.rs"}, JWKS: key})
	e.do(t, tok, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusUnauthorized)
}

// TestIncludeNeedsReadOfTheIncluded: _include=Task:focus returns the
// ServiceRequests, so the search needs their read scope too, and the 403
// says which part of the search needed it.
func TestIncludeNeedsReadOfTheIncluded(t *testing.T) {
	e := newEnv(t)
	e.createReferral(t, "INC-1", "requested")
	tok := e.token(t, "ehr-readonly") // system/Task.rs only
	e.do(t, tok, "GET", "/fhir/Task?identifier=INC-1", nil).want(t, http.StatusOK)
	res := e.do(t, tok, "GET", "/fhir/Task?identifier=INC-1&_include=Task:focus", nil)
	wantScopeRefusal(t, res, "system/ServiceRequest.r")
	if !strings.Contains(string(res.body), "_include") {
		t.Errorf("the refusal does not say the _include needs it: %s", res.body)
	}
}
