package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// linkURL returns the url of the Bundle link with the relation, or "".
func (b searchBundle) linkURL(relation string) string {
	for _, l := range b.Link {
		if l.Relation == relation {
			return l.URL
		}
	}
	return ""
}

// TestSearchCountZeroIsSummaryCount: R4 search treats _count=0 as
// _summary=count (the total, no entries, no paging links).
func TestSearchCountZeroIsSummaryCount(t *testing.T) {
	e := newEnv(t)
	e.createReferral(t, "C0-1", "draft")
	e.createReferral(t, "C0-2", "draft")
	var b struct {
		Type  string
		Total *int
		Entry []any
	}
	var links searchBundle
	res := e.do(t, e.token(t, "ehr-north"), "GET", "/fhir/Task?status=draft&_count=0", nil).want(t, http.StatusOK)
	res.decode(t, &b)
	res.decode(t, &links)
	if b.Type != "searchset" || b.Total == nil || *b.Total != 2 || len(b.Entry) != 0 || links.linkURL("next") != "" {
		t.Errorf("_count=0 answered %s", res.body)
	}
}

// TestSearchSelfLinkNamesOnlyUsedParameters: R4 search says the self link
// carries the parameters the server actually used, so a client can tell
// which of its criteria were ignored under lenient handling; the next link
// must not carry them either.
func TestSearchSelfLinkNamesOnlyUsedParameters(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"SL-1", "SL-2", "SL-3"} {
		e.createReferral(t, id, "draft")
	}
	tok := e.token(t, "ehr-north")
	params := func(t *testing.T, link string) url.Values {
		t.Helper()
		u, err := url.Parse(link)
		if err != nil || link == "" {
			t.Fatalf("link %q: %v", link, err)
		}
		return u.Query()
	}
	var b searchBundle
	e.do(t, tok, "GET", "/fhir/Task?status=draft&status:not=draft&color=red&_sort=-_lastUpdated&_summary=text&_count=2", nil).
		want(t, http.StatusOK).decode(t, &b)
	self, next := params(t, b.linkURL("self")), params(t, b.linkURL("next"))
	for _, name := range []string{"status:not", "color", "_sort", "_summary"} {
		if self.Has(name) || next.Has(name) {
			t.Errorf("ignored parameter %s is in the links: self %s, next %s", name, b.linkURL("self"), b.linkURL("next"))
		}
	}
	if self.Get("status") != "draft" || self.Get("_count") != "2" || next.Get("status") != "draft" || next.Get("_cursor") == "" {
		t.Errorf("used parameters missing: self %s, next %s", b.linkURL("self"), b.linkURL("next"))
	}
	if !strings.HasPrefix(b.linkURL("self"), e.srv.URL+"/fhir/Task?") {
		t.Errorf("self link %s", b.linkURL("self"))
	}

	b = searchBundle{}
	e.do(t, tok, "GET", "/fhir/Task?color=red", nil).want(t, http.StatusOK).decode(t, &b)
	if b.linkURL("self") != e.srv.URL+"/fhir/Task" {
		t.Errorf("self link of a search with nothing applied: %s", b.linkURL("self"))
	}

	e.subscribe(t, "ehr-north", subscriptionBody("off", "Task?requester=org-north", "https://ehr.example.org/hook", ""))
	b = searchBundle{}
	e.do(t, tok, "GET", "/fhir/Subscription?status=off&color=red", nil).want(t, http.StatusOK).decode(t, &b)
	self = params(t, b.linkURL("self"))
	if self.Has("color") || self.Get("status") != "off" {
		t.Errorf("Subscription self link %s", b.linkURL("self"))
	}
}

// TestInsufficientScopeChallenge: RFC 6750 §3 has a resource server answer
// a token that does not permit the request with a WWW-Authenticate
// challenge; §3.1 names the error insufficient_scope and the scope needed.
func TestInsufficientScopeChallenge(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "SC-1", "requested")
	body := []byte(`{"resourceType":"Task","id":"` + id + `","status":"cancelled","intent":"order"}`)
	res := e.do(t, e.token(t, "ehr-readonly"), "PUT", "/fhir/Task/"+id, body).want(t, http.StatusForbidden)
	var oo OperationOutcome
	res.decode(t, &oo)
	if len(oo.Issue) != 1 || oo.Issue[0].Code != "forbidden" {
		t.Errorf("outcome %s", res.body)
	}
	if got := res.header.Get("WWW-Authenticate"); got != `Bearer realm="fhir", error="insufficient_scope", scope="system/Task.u"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

// TestSubscriptionVersionsAndDelete: R4 create and update answer with a
// Location naming the new version (…/_history/<vid>), which must resolve;
// a version no longer kept is 404; deleting a resource that does not
// exist (or no longer does) is still a success.
func TestSubscriptionVersionsAndDelete(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "ehr-north")
	created := e.do(t, tok, "POST", "/fhir/Subscription",
		subscriptionBody("off", "Task?requester=org-north", "https://ehr.example.org/hook", "")).want(t, http.StatusCreated)
	var s struct {
		ID string `json:"id"`
	}
	created.decode(t, &s)
	base := e.srv.URL + "/fhir/Subscription/" + s.ID
	if loc := created.header.Get("Location"); loc != base+"/_history/1" {
		t.Fatalf("create Location %q, want %s/_history/1", loc, base)
	}
	v1 := e.do(t, tok, "GET", created.header.Get("Location"), nil).want(t, http.StatusOK)
	if v1.header.Get("ETag") != `W/"1"` || !strings.Contains(string(v1.body), `"versionId":"1"`) {
		t.Errorf("vread of version 1: ETag %q, %s", v1.header.Get("ETag"), v1.body)
	}

	var doc map[string]any
	v1.decode(t, &doc)
	doc["reason"] = "changed"
	updated := e.do(t, tok, "PUT", "/fhir/Subscription/"+s.ID, []byte(toJSON(t, doc)), "If-Match", `W/"1"`).want(t, http.StatusOK)
	if loc := updated.header.Get("Location"); loc != base+"/_history/2" {
		t.Errorf("update Location %q, want %s/_history/2", loc, base)
	}
	e.do(t, tok, "GET", base+"/_history/2", nil).want(t, http.StatusOK)
	e.do(t, tok, "GET", base+"/_history/1", nil).want(t, http.StatusNotFound)
	e.do(t, tok, "GET", base+"/_history/x", nil).want(t, http.StatusNotFound)
	e.do(t, e.token(t, "ehr-other"), "GET", base+"/_history/2", nil).want(t, http.StatusNotFound)

	// Another organisation's delete finds nothing of its own to delete.
	e.do(t, e.token(t, "ehr-other"), "DELETE", "/fhir/Subscription/"+s.ID, nil).want(t, http.StatusNoContent)
	e.do(t, tok, "GET", "/fhir/Subscription/"+s.ID, nil).want(t, http.StatusOK)
	e.do(t, tok, "DELETE", "/fhir/Subscription/"+s.ID, nil).want(t, http.StatusNoContent)
	e.do(t, tok, "DELETE", "/fhir/Subscription/"+s.ID, nil).want(t, http.StatusNoContent)
	e.do(t, tok, "DELETE", "/fhir/Subscription/never-was", nil).want(t, http.StatusNoContent)
	e.do(t, tok, "GET", "/fhir/Subscription/"+s.ID, nil).want(t, http.StatusNotFound)
}

// TestIncludeWithTargetType: R4 lets _include name the target type
// (Task:focus:ServiceRequest); a Task's focus here is always the
// ServiceRequest, so the typed form includes the same, and another
// target type is refused as unsupported.
func TestIncludeWithTargetType(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "IN-1", "requested")
	tok := e.token(t, "ehr-north")
	var b searchBundle
	e.do(t, tok, "GET", "/fhir/Task?_id="+id+"&_include=Task:focus:ServiceRequest", nil).want(t, http.StatusOK).decode(t, &b)
	if len(b.Entry) != 2 || b.Entry[1].Resource.ResourceType != "ServiceRequest" || b.Entry[1].Search.Mode != "include" {
		t.Errorf("typed _include: %+v", b.Entry)
	}
	e.do(t, tok, "GET", "/fhir/Task?_id="+id+"&_include=Task:focus:Patient", nil).want(t, http.StatusBadRequest)
}

// TestCapabilityStatementNamesPatchFormat: patch is declared, so the
// CapabilityStatement says which patch format it takes (JSON Patch only).
func TestCapabilityStatementNamesPatchFormat(t *testing.T) {
	e := newEnv(t)
	var cs struct {
		PatchFormat []string `json:"patchFormat"`
	}
	e.do(t, "", "GET", "/fhir/metadata", nil).want(t, http.StatusOK).decode(t, &cs)
	if len(cs.PatchFormat) != 1 || cs.PatchFormat[0] != "application/json-patch+json" {
		t.Errorf("patchFormat %v", cs.PatchFormat)
	}
	// The one it names is the one PATCH accepts; FHIRPath Patch is not.
	id := e.createReferral(t, "PF-1", "requested")
	e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+id, []byte(`{"resourceType":"Parameters"}`)).
		want(t, http.StatusUnsupportedMediaType)
}

// TestMethodNotAllowedNamesAllow: RFC 9110 §15.5.6 requires a 405 to carry
// Allow with the methods the resource supports; a path no method serves
// is not found rather than 405.
func TestMethodNotAllowedNamesAllow(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "ehr-north")
	id := e.createReferral(t, "MA-1", "requested")
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/fhir/Task/" + id, "GET, HEAD, PATCH, PUT"},
		{"POST", "/fhir/Task/" + id, "GET, HEAD, PATCH, PUT"},
		{"PUT", "/fhir/Task", "GET, HEAD, POST"},
		{"PUT", "/fhir/metadata", "GET, HEAD"},
		{"PATCH", "/fhir/Subscription/x", "DELETE, GET, HEAD, PUT"},
		{"GET", "/fhir/ServiceRequest", "POST"},
	} {
		res := e.do(t, tok, tc.method, tc.path, nil).want(t, http.StatusMethodNotAllowed)
		if got := res.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	for _, path := range []string{"/fhir/Task/" + id + "/extra/segments", "/fhir/Patient/" + id + "/_history/1"} {
		res := e.do(t, tok, "GET", path, nil).want(t, http.StatusNotFound)
		var oo OperationOutcome
		res.decode(t, &oo)
		if len(oo.Issue) != 1 || oo.Issue[0].Code != "not-supported" {
			t.Errorf("GET %s: %s", path, res.body)
		}
	}
}

// TestRepeatedSearchParameter: in R4 a repeated parameter means AND (every
// value must match), commas mean OR. The server cannot apply AND to these
// single criteria, so it refuses rather than quietly using the first value.
func TestRepeatedSearchParameter(t *testing.T) {
	e := newEnv(t)
	e.createReferral(t, "RP-1", "draft")
	tok := e.token(t, "ehr-north")
	for _, q := range []string{"/fhir/Task?status=draft&status=requested", "/fhir/Task?owner=org-ortho&owner=org-other",
		"/fhir/Task?_count=1&_count=5", "/fhir/Subscription?status=off&status=active"} {
		res := e.do(t, tok, "GET", q, nil).want(t, http.StatusBadRequest)
		var oo OperationOutcome
		res.decode(t, &oo)
		if len(oo.Issue) != 1 || oo.Issue[0].Code != "not-supported" || len(oo.Issue[0].Expression) != 1 {
			t.Errorf("%s: %s", q, res.body)
		}
	}
	// Two _lastUpdated bounds are the AND they mean; commas stay OR.
	var b searchBundle
	e.do(t, tok, "GET", "/fhir/Task?_lastUpdated=ge2026-01-01&_lastUpdated=lt2027-01-01&status=draft,requested", nil).
		want(t, http.StatusOK).decode(t, &b)
	if len(b.Entry) != 1 {
		t.Errorf("ranged search found %d", len(b.Entry))
	}
}

// TestBinaryReadNegotiates: a Binary is served as the document when Accept
// names its media type, as FHIR JSON when Accept takes that, and otherwise
// 406, like every other read (an XML or unrelated Accept is not answered
// with JSON).
func TestBinaryReadNegotiates(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "BN-1", "requested")
	tok := e.token(t, "ehr-ortho")
	var doc struct {
		Content []struct {
			Attachment struct{ URL string } `json:"attachment"`
		} `json:"content"`
	}
	var tk struct {
		Input []struct {
			ValueReference struct{ Reference string } `json:"valueReference"`
		} `json:"input"`
	}
	e.do(t, tok, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &tk)
	e.do(t, tok, "GET", "/fhir/"+tk.Input[0].ValueReference.Reference, nil).want(t, http.StatusOK).decode(t, &doc)
	bin := "/fhir/" + doc.Content[0].Attachment.URL // the record is text/plain
	for accept, want := range map[string]struct {
		status int
		ct     string
	}{
		"text/plain":                        {http.StatusOK, "text/plain"},
		"application/fhir+json":             {http.StatusOK, "application/fhir+json"},
		"":                                  {http.StatusOK, "application/fhir+json"},
		"*/*":                               {http.StatusOK, "application/fhir+json"},
		"application/fhir+xml":              {http.StatusNotAcceptable, "application/fhir+json"},
		"application/pdf":                   {http.StatusNotAcceptable, "application/fhir+json"},
		"application/pdf, application/json": {http.StatusOK, "application/fhir+json"},
	} {
		res := e.do(t, tok, "GET", bin, nil, "Accept", accept).want(t, want.status)
		if !strings.HasPrefix(res.header.Get("Content-Type"), want.ct) {
			t.Errorf("Accept %q: Content-Type %q, want %s", accept, res.header.Get("Content-Type"), want.ct)
		}
		if want.ct == "text/plain" && res.header.Get("X-Security-Context") != tk.Input[0].ValueReference.Reference {
			t.Errorf("raw Binary: X-Security-Context %q, want %s", res.header.Get("X-Security-Context"), tk.Input[0].ValueReference.Reference)
		}
	}
}

// TestSubscriptionSearchPages: _count bounds a Subscription search page
// too (R4: a server may return fewer than _count, never more), next pages
// through the rest, and _count=0 is the total only.
func TestSubscriptionSearchPages(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 3 {
		s := e.subscribe(t, "ehr-north", subscriptionBody("off", "Task?requester=org-north", "https://ehr.example.org/hook"+string(rune('a'+i)), ""))
		want = append(want, s.ID)
	}
	tok := e.token(t, "ehr-north")
	var got []string
	next := "/fhir/Subscription?status=off&_count=2"
	for pages := 0; next != ""; pages++ {
		if pages == 3 {
			t.Fatal("paging does not end")
		}
		var b searchBundle
		e.do(t, tok, "GET", next, nil, "Prefer", "handling=strict").want(t, http.StatusOK).decode(t, &b)
		if len(b.Entry) > 2 {
			t.Fatalf("page of %d entries for _count=2", len(b.Entry))
		}
		for _, en := range b.Entry {
			got = append(got, en.Resource.ID)
		}
		next = b.linkURL("next")
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("paged %v, want %v", got, want)
	}
	var total struct {
		Total *int
		Entry []any
	}
	e.do(t, tok, "GET", "/fhir/Subscription?_count=0", nil).want(t, http.StatusOK).decode(t, &total)
	if total.Total == nil || *total.Total != 3 || len(total.Entry) != 0 {
		t.Errorf("_count=0: total %v, %d entries", total.Total, len(total.Entry))
	}
}

// TestDiscoveryAgreesWithCapabilityStatement spot-checks the security
// promises: the token endpoint SMART discovery names (below the FHIR base,
// where SMART clients look) is the one the CapabilityStatement's oauth-uris
// extension names, and a backend client that follows it gets a token the
// API accepts, with the v1 wildcard scope the discovery document lists.
func TestDiscoveryAgreesWithCapabilityStatement(t *testing.T) {
	e := newEnv(t)
	var disco struct {
		TokenEndpoint string   `json:"token_endpoint"`
		Scopes        []string `json:"scopes_supported"`
	}
	e.do(t, "", "GET", "/fhir/.well-known/smart-configuration", nil).want(t, http.StatusOK).decode(t, &disco)
	var cs struct {
		Rest []struct {
			Security struct {
				Extension []struct {
					URL       string `json:"url"`
					Extension []struct {
						URL      string `json:"url"`
						ValueURI string `json:"valueUri"`
					} `json:"extension"`
				} `json:"extension"`
				Service []struct {
					Coding []struct{ System, Code string }
				} `json:"service"`
			} `json:"security"`
		} `json:"rest"`
	}
	e.do(t, "", "GET", "/fhir/metadata", nil).want(t, http.StatusOK).decode(t, &cs)
	sec := cs.Rest[0].Security
	token := ""
	for _, ext := range sec.Extension {
		for _, sub := range ext.Extension {
			if ext.URL == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris" && sub.URL == "token" {
				token = sub.ValueURI
			}
		}
	}
	if token == "" || token != disco.TokenEndpoint {
		t.Fatalf("CapabilityStatement token %q, discovery token_endpoint %q", token, disco.TokenEndpoint)
	}
	if len(sec.Service) != 1 || len(sec.Service[0].Coding) != 1 || sec.Service[0].Coding[0].Code != "SMART-on-FHIR" {
		t.Errorf("security.service %+v", sec.Service)
	}
	if !slices.Contains(disco.Scopes, "system/*.read") {
		t.Fatalf("scopes_supported %v", disco.Scopes)
	}
	ts := e.tokenSource("ehr-other") // registered for system/*.cruds
	ts.TokenURL, ts.Scopes = disco.TokenEndpoint, []string{"system/*.read"}
	tok, err := ts.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ts.GrantedScope() != "system/*.read" {
		t.Errorf("granted %q", ts.GrantedScope())
	}
	e.do(t, tok, "GET", "/fhir/Task", nil).want(t, http.StatusOK)
	e.do(t, tok, "POST", "/fhir/Task", containedTask("DS-1", "draft")).want(t, http.StatusForbidden)
}

// TestPreferList: RFC 7240 lets one Prefer header carry several
// preferences separated by commas; each is honoured.
func TestPreferList(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "PL-1", "requested")
	tok := e.token(t, "ehr-ortho")
	e.do(t, tok, "GET", "/fhir/Task?color=red", nil, "Prefer", "return=representation, handling=strict").want(t, http.StatusBadRequest)
	e.do(t, tok, "GET", "/fhir/Task?color=red", nil, "Prefer", `handling = "strict"`).want(t, http.StatusBadRequest)
	res := e.do(t, tok, "PATCH", "/fhir/Task/"+id, []byte(`[{"op":"replace","path":"/status","value":"accepted"}]`),
		"Content-Type", "application/json-patch+json", "Prefer", "handling=lenient, return=minimal").want(t, http.StatusOK)
	if len(res.body) != 0 || res.header.Get("ETag") == "" {
		t.Errorf("return=minimal in a list: body %q, ETag %q", res.body, res.header.Get("ETag"))
	}
}

// TestUpdateIgnoresBodyVersionID: R4 update says the server SHALL ignore
// meta.versionId (and lastUpdated) in the body; a version-aware update
// names the version in If-Match, which is still checked.
func TestUpdateIgnoresBodyVersionID(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "VI-1", "requested")
	e.putStatus(t, "ehr-ortho", id, setStatus("accepted", map[string]any{"meta": map[string]any{"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z"}})).
		want(t, http.StatusOK)
	e.putStatus(t, "ehr-ortho", id, setStatus("in-progress", map[string]any{"meta": map[string]any{"versionId": "not-a-number"}})).
		want(t, http.StatusOK)
	e.putStatus(t, "ehr-ortho", id, setStatus("completed", nil), "If-Match", `W/"1"`).want(t, http.StatusPreconditionFailed)

	sub := e.subscribe(t, "ehr-north", subscriptionBody("off", "Task?requester=org-north", "https://ehr.example.org/hook", ""))
	tok := e.token(t, "ehr-north")
	for i, v := range []string{"1", "1", "opaque"} { // stale on the second and third PUT
		var doc map[string]any
		e.do(t, tok, "GET", "/fhir/Subscription/"+sub.ID, nil).want(t, http.StatusOK).decode(t, &doc)
		doc["meta"] = map[string]any{"versionId": v}
		doc["reason"] = fmt.Sprintf("reason %d", i)
		e.do(t, tok, "PUT", "/fhir/Subscription/"+sub.ID, []byte(toJSON(t, doc))).want(t, http.StatusOK)
	}
	var doc map[string]any
	e.do(t, tok, "GET", "/fhir/Subscription/"+sub.ID, nil).want(t, http.StatusOK).decode(t, &doc)
	e.do(t, tok, "PUT", "/fhir/Subscription/"+sub.ID, []byte(toJSON(t, doc)), "If-Match", `W/"2"`).want(t, http.StatusPreconditionFailed)
}

// TestConditionalWritesUnsupported: R4 asks a server without conditional
// update (or delete, or patch) to answer such a request with 400, not to
// treat it as an unknown path.
func TestConditionalWritesUnsupported(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "ehr-north")
	for _, c := range []struct{ method, path string }{
		{"PUT", "/fhir/Task?identifier=https://north.example.org/referrals|CW-1"},
		{"PATCH", "/fhir/Task?identifier=CW-1"},
		{"DELETE", "/fhir/Subscription?status=off"},
	} {
		res := e.do(t, tok, c.method, c.path, []byte(`{"resourceType":"Task"}`)).want(t, http.StatusBadRequest)
		var oo OperationOutcome
		res.decode(t, &oo)
		if len(oo.Issue) != 1 || oo.Issue[0].Code != "not-supported" || !strings.Contains(oo.Issue[0].Diagnostics, "conditional") {
			t.Errorf("%s %s: %s", c.method, c.path, res.body)
		}
	}
	// Without criteria it is a method the type does not take, and so is a
	// conditional delete of a type whose instances cannot be deleted.
	e.do(t, tok, "PUT", "/fhir/Task", []byte(`{"resourceType":"Task"}`)).want(t, http.StatusMethodNotAllowed)
	e.do(t, tok, "DELETE", "/fhir/Task?identifier=CW-1", nil).want(t, http.StatusMethodNotAllowed)
}

// TestEmptyTransaction: R4 transaction processing says a Bundle with no
// resources is not an error: the answer is an empty transaction-response.
func TestEmptyTransaction(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "ehr-north")
	for _, body := range []string{`{"resourceType":"Bundle","type":"transaction"}`, `{"resourceType":"Bundle","type":"transaction","entry":[]}`} {
		var b struct {
			ResourceType, Type string
			Entry              []any
		}
		e.do(t, tok, "POST", "/fhir", []byte(body)).want(t, http.StatusOK).decode(t, &b)
		if b.ResourceType != "Bundle" || b.Type != "transaction-response" || len(b.Entry) != 0 {
			t.Errorf("%s answered %+v", body, b)
		}
	}
	var list searchBundle
	e.do(t, tok, "GET", "/fhir/Task", nil).want(t, http.StatusOK).decode(t, &list)
	if len(list.Entry) != 0 {
		t.Errorf("an empty transaction created %d Tasks", len(list.Entry))
	}
	// A batch is still not supported, empty or not.
	e.do(t, tok, "POST", "/fhir", []byte(`{"resourceType":"Bundle","type":"batch"}`)).want(t, http.StatusBadRequest)
}

// TestHistoryCountAndSince: R4 history takes _count (the server may return
// fewer, never more) and _since (versions made at or after an instant);
// a next link pages through the rest, newest first.
func TestHistoryCountAndSince(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "HC-1", "requested")
	e.clock.Advance(time.Hour)
	mid := e.clock.Now()
	e.putStatus(t, "ehr-ortho", id, setStatus("accepted", nil)).want(t, http.StatusOK) // the only version since mid
	tok := e.token(t, "ehr-ortho")
	type history struct {
		Type  string
		Total *int
		Link  []struct{ Relation, URL string }
		Entry []struct {
			Resource task
			Response struct{ LastModified string }
		}
	}
	var all history
	e.do(t, tok, "GET", "/fhir/Task/"+id+"/_history", nil).want(t, http.StatusOK).decode(t, &all)
	var want []string
	for _, en := range all.Entry {
		want = append(want, en.Resource.Meta.VersionID)
	}
	if len(want) < 3 {
		t.Fatalf("history has %d versions", len(want))
	}
	var versions []string
	next := "/fhir/Task/" + id + "/_history?_count=1"
	for pages := 0; next != ""; pages++ {
		if pages > len(want) {
			t.Fatal("history paging does not end")
		}
		var h history
		e.do(t, tok, "GET", next, nil).want(t, http.StatusOK).decode(t, &h)
		if h.Type != "history" || len(h.Entry) > 1 {
			t.Fatalf("page %d: type %s, %d entries for _count=1", pages, h.Type, len(h.Entry))
		}
		for _, en := range h.Entry {
			versions = append(versions, en.Resource.Meta.VersionID)
		}
		next = ""
		for _, l := range h.Link {
			if l.Relation == "next" {
				next = l.URL
			}
		}
	}
	if strings.Join(versions, ",") != strings.Join(want, ",") {
		t.Errorf("paged versions %v, want %v", versions, want)
	}
	var sinceMid []string
	for _, en := range all.Entry {
		if at, err := time.Parse(time.RFC3339, en.Response.LastModified); err == nil && !at.Before(mid) {
			sinceMid = append(sinceMid, en.Resource.Meta.VersionID)
		}
	}
	if len(sinceMid) == 0 || len(sinceMid) == len(want) {
		t.Fatalf("versions since %s: %v of %v", mid, sinceMid, want)
	}
	var h history
	e.do(t, tok, "GET", "/fhir/Task/"+id+"/_history?_since="+url.QueryEscape(mid.Format(time.RFC3339)), nil).want(t, http.StatusOK).decode(t, &h)
	var got []string
	for _, en := range h.Entry {
		got = append(got, en.Resource.Meta.VersionID)
	}
	if strings.Join(got, ",") != strings.Join(sinceMid, ",") {
		t.Errorf("_since: %v, want %v", got, sinceMid)
	}
	e.do(t, tok, "GET", "/fhir/Task/"+id+"/_history?_since=yesterday", nil).want(t, http.StatusBadRequest)
}

// TestDisabledClientsTokensEndAtOnce: an administrator who disables a
// client (a leaked key) ends the access tokens it already holds; they do
// not stay good for the rest of their five minutes.
func TestDisabledClientsTokensEndAtOnce(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "ehr-north")
	e.do(t, tok, "GET", "/fhir/Task?status=draft", nil).want(t, http.StatusOK)
	c, err := e.reg.Client(t.Context(), "ehr-north")
	if err != nil {
		t.Fatal(err)
	}
	c.Disabled = true
	e.reg.Put(c)
	res := e.do(t, tok, "GET", "/fhir/Task?status=draft", nil).want(t, http.StatusUnauthorized)
	if ch := res.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("challenge %q, want invalid_token", ch)
	}
}
