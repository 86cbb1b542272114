package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestGeneralParameters checks lenient and strict handling of unknown
// parameters, _summary=count, _elements, _pretty, _format and Accept.
func TestGeneralParameters(t *testing.T) {
	e := newEnv(t)
	a := e.createReferral(t, "G-1", "draft")
	e.createReferral(t, "G-2", "draft")
	north := e.token(t, "ehr-north")
	var b struct {
		Total *int
		Entry []struct {
			Resource map[string]any
			Search   struct{ Mode string }
		}
	}
	e.do(t, north, "GET", "/fhir/Task?status=draft&color=red&_format=json", nil).want(t, http.StatusOK).decode(t, &b)
	if len(b.Entry) != 3 || b.Entry[2].Search.Mode != "outcome" || !strings.Contains(toJSON(t, b.Entry[2].Resource), "color") {
		t.Fatalf("lenient search: %+v", b.Entry)
	}
	e.do(t, north, "GET", "/fhir/Task?status=draft&color=red", nil, "Prefer", "handling=strict").want(t, http.StatusBadRequest)

	b.Entry, b.Total = nil, nil
	e.do(t, north, "GET", "/fhir/Task?status=draft&_summary=count", nil).want(t, http.StatusOK).decode(t, &b)
	if b.Total == nil || *b.Total != 2 || len(b.Entry) != 0 {
		t.Fatalf("_summary=count: total %v, %d entries", b.Total, len(b.Entry))
	}
	b.Entry = nil
	e.do(t, north, "GET", "/fhir/Task?_id="+a+"&_elements=status,owner", nil).want(t, http.StatusOK).decode(t, &b)
	if len(b.Entry) != 1 {
		t.Fatalf("_elements: %d entries", len(b.Entry))
	}
	res := b.Entry[0].Resource
	if res["status"] != "draft" || res["owner"] == nil || res["focus"] != nil || res["intent"] != nil ||
		!strings.Contains(toJSON(t, res["meta"]), "SUBSETTED") {
		t.Errorf("_elements kept %v", res)
	}

	pretty := e.do(t, north, "GET", "/fhir/Task/"+a+"?_pretty=true", nil).want(t, http.StatusOK)
	if !strings.Contains(string(pretty.body), "\n  \"") {
		t.Errorf("_pretty=true is not indented: %.80s", pretty.body)
	}
	for _, hdr := range [][]string{{"Accept", "application/fhir+xml"}, {"Accept", "application/xml, text/xml"}} {
		res := e.do(t, north, "GET", "/fhir/Task/"+a, nil, hdr...).want(t, http.StatusNotAcceptable)
		var oo OperationOutcome
		res.decode(t, &oo)
		if len(oo.Issue) == 0 || oo.Issue[0].Code != "not-supported" {
			t.Errorf("406 outcome %s", res.body)
		}
	}
	e.do(t, north, "GET", "/fhir/Task/"+a+"?_format=xml", nil).want(t, http.StatusNotAcceptable)
	e.do(t, "", "GET", "/fhir/metadata", nil, "Accept", "application/fhir+xml").want(t, http.StatusNotAcceptable)
	e.do(t, north, "GET", "/fhir/Task/"+a, nil, "Accept", "application/fhir+json;q=0.9, application/fhir+xml").want(t, http.StatusOK)
}

// TestPreferAndLifecycleEdges checks Prefer: return=minimal and the R4 Task
// moves the referral lifecycle refuses (in-progress → on-hold, → failed).
func TestPreferAndLifecycleEdges(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "P-1", "requested")
	res := e.putStatus(t, "ehr-ortho", id, setStatus("accepted", nil), "Prefer", "return=minimal").want(t, http.StatusOK)
	if len(res.body) != 0 || res.header.Get("ETag") == "" || res.header.Get("Location") == "" {
		t.Errorf("return=minimal: body %q, ETag %q, Location %q", res.body, res.header.Get("ETag"), res.header.Get("Location"))
	}
	res = e.do(t, e.token(t, "ehr-north"), "POST", "/fhir/ServiceRequest", serviceRequest("P-2", orgOrtho), "Prefer", "return=minimal").
		want(t, http.StatusCreated)
	if len(res.body) != 0 || res.header.Get("Location") == "" {
		t.Errorf("return=minimal create: body %q, Location %q", res.body, res.header.Get("Location"))
	}
	e.putStatus(t, "ehr-ortho", id, setStatus("in-progress", nil)).want(t, http.StatusOK)
	for _, to := range []string{"on-hold", "failed"} {
		res := e.putStatus(t, "ehr-ortho", id, setStatus(to, nil)).want(t, http.StatusUnprocessableEntity)
		if !strings.Contains(string(res.body), "not part of the referral lifecycle") {
			t.Errorf("in-progress → %s: %s", to, res.body)
		}
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
