package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// r4TypeInteractions are the type and instance interactions R4 defines.
var r4TypeInteractions = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}

// sampleFor are values for search parameters whose values are a closed set.
var sampleFor = map[string]string{
	"Task.status":           "draft",
	"Subscription.status":   "off",
	"Subscription.criteria": "Task?owner=org-other",
	"Subscription.type":     "rest-hook",
	"Subscription.payload":  "application/fhir%2Bjson",
}

// TestCapabilityStatementIsTheTruth walks the CapabilityStatement: every
// declared interaction and search parameter is called and answers, and
// every interaction it does not declare answers 4xx.
func TestCapabilityStatementIsTheTruth(t *testing.T) {
	e := newEnv(t)
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				Interaction []struct{ Code string }
				SearchParam []struct{ Name, Type string }
			}
			Interaction []struct{ Code string }
		}
	}
	e.do(t, "", "GET", "/fhir/metadata", nil).want(t, http.StatusOK).decode(t, &cs)

	// What the walk reads, updates and deletes.
	tok := e.token(t, "ehr-other") // system/*.cruds; the referral below is its own
	other := strings.NewReplacer("org-north", "org-other", `"system":"https://north.example.org/referrals"`, `"system":"urn:other"`)
	var tx struct {
		Entry []struct{ Response struct{ Location string } }
	}
	e.do(t, tok, "POST", "/fhir", []byte(other.Replace(fullTransaction))).want(t, http.StatusOK).decode(t, &tx)
	ids := map[string]string{}
	for _, en := range tx.Entry {
		parts := strings.Split(en.Response.Location, "/")
		ids[parts[0]] = parts[1]
	}
	sub := e.subscribe(t, "ehr-other", subscriptionBody("off", "Task?requester=org-other", "https://ehr.example.org/hook", ""))
	ids["Subscription"] = sub.ID

	created := 0
	call := func(typ, code string) *response {
		id := ids[typ]
		switch code {
		case "read":
			return e.do(t, tok, "GET", "/fhir/"+typ+"/"+id, nil)
		case "vread":
			return e.do(t, tok, "GET", "/fhir/"+typ+"/"+id+"/_history/1", nil)
		case "history-instance":
			return e.do(t, tok, "GET", "/fhir/"+typ+"/"+id+"/_history", nil)
		case "history-type":
			return e.do(t, tok, "GET", "/fhir/"+typ+"/_history", nil)
		case "search-type":
			return e.do(t, tok, "GET", "/fhir/"+typ, nil)
		case "update":
			var doc map[string]any
			e.do(t, tok, "GET", "/fhir/"+typ+"/"+id, nil).decode(t, &doc)
			b, _ := json.Marshal(doc)
			return e.do(t, tok, "PUT", "/fhir/"+typ+"/"+id, b)
		case "patch":
			return e.do(t, tok, "PATCH", "/fhir/"+typ+"/"+id, []byte(`[]`), "Content-Type", "application/json-patch+json")
		case "delete":
			return e.do(t, tok, "DELETE", "/fhir/"+typ+"/"+id, nil)
		case "create":
			created++
			var body []byte
			switch typ {
			case "Task":
				body = []byte(strings.ReplaceAll(string(containedTask(fmt.Sprintf("WALK-%d", created), "draft")), "org-north", "org-other"))
			case "ServiceRequest":
				body = []byte(strings.ReplaceAll(string(serviceRequest(fmt.Sprintf("WALK-%d", created), orgOrtho)), "https://north.example.org/referrals", "urn:walk"))
			case "Subscription":
				body = subscriptionBody("off", "Task?owner=org-other", "https://ehr.example.org/hook2", "")
			default:
				body = []byte(`{"resourceType":"` + typ + `"}`)
			}
			return e.do(t, tok, "POST", "/fhir/"+typ, body)
		}
		t.Fatalf("no call for %s", code)
		return nil
	}
	sample := map[string]string{"token": "x", "reference": "Organization/org-other", "date": "ge2026-01-01", "number": "1",
		"string": "x", "uri": "https://ehr.example.org/hook"}
	for _, r := range cs.Rest[0].Resource {
		declared := map[string]bool{}
		for _, in := range r.Interaction {
			declared[in.Code] = true
		}
		// Delete last: it removes what the others use.
		for _, code := range append(slices.DeleteFunc(slices.Clone(r4TypeInteractions), func(c string) bool { return c == "delete" }), "delete") {
			res := call(r.Type, code)
			switch {
			case declared[code] && (res.status < 200 || res.status >= 300):
				t.Errorf("%s %s is declared but answers %d: %s", r.Type, code, res.status, res.body)
			case !declared[code] && (res.status < 400 || res.status >= 500):
				t.Errorf("%s %s is not declared but answers %d", r.Type, code, res.status)
			}
		}
		for _, p := range r.SearchParam {
			v, ok := sample[p.Type]
			if x, has := sampleFor[r.Type+"."+p.Name]; has {
				v, ok = x, true
			}
			if !ok {
				t.Errorf("%s search parameter %s has type %s the walk does not know", r.Type, p.Name, p.Type)
				continue
			}
			res := e.do(t, tok, "GET", "/fhir/"+r.Type+"?"+p.Name+"="+v, nil, "Prefer", "handling=strict")
			if res.status != http.StatusOK {
				t.Errorf("%s?%s=%s is declared but answers %d: %s", r.Type, p.Name, v, res.status, res.body)
			}
		}
		if declared["search-type"] {
			e.do(t, tok, "GET", "/fhir/"+r.Type+"?not-a-parameter=1", nil, "Prefer", "handling=strict").want(t, http.StatusBadRequest)
		}
	}
	for _, in := range cs.Rest[0].Interaction {
		if in.Code != "transaction" {
			t.Errorf("system interaction %s is declared but not walked", in.Code)
		}
	}
	// Undeclared system interactions and resource types.
	e.do(t, tok, "GET", "/fhir/_history", nil).want(t, http.StatusNotFound)
	e.do(t, tok, "GET", "/fhir/Observation/1", nil).want(t, http.StatusNotFound)
	e.do(t, tok, "POST", "/fhir", []byte(`{"resourceType":"Bundle","type":"batch"}`)).want(t, http.StatusBadRequest)
}
