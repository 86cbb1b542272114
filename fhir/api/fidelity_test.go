package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// richOrder is a ServiceRequest with the content EHRs send that the
// gateway's own model does not carry: category, a specific code,
// occurrence, patient instructions, extensions and primitive extensions.
const richOrder = `{"resourceType":"ServiceRequest","status":"active","intent":"order","priority":"urgent",
 "_status":{"extension":[{"url":"http://example.org/fhir/StructureDefinition/status-source","valueString":"ehr"}]},
 "_priority":{"extension":[{"url":"http://example.org/fhir/StructureDefinition/priority-reason","valueString":"worsening"}]},
 "extension":[{"url":"http://example.org/fhir/StructureDefinition/referral-channel","valueCode":"portal"}],
 "meta":{"profile":["http://example.org/fhir/StructureDefinition/referral"],"tag":[{"system":"urn:example:tags","code":"t1"}]},
 "category":[{"coding":[{"system":"http://snomed.info/sct","code":"3457005","display":"Patient referral"}]}],
 "code":{"coding":[{"system":"http://snomed.info/sct","code":"306181000000106","display":"Referral to orthopaedic service"}],"text":"Ortho referral"},
 "orderDetail":[{"text":"Assess for arthroscopy"}],
 "occurrencePeriod":{"start":"2026-03-10","end":"2026-04-10"},
 "patientInstruction":"Bring your knee X-rays.",
 "reasonCode":[{"coding":[{"system":"http://snomed.info/sct","code":"239873007","display":"Osteoarthritis of knee"}]}],
 "note":[{"text":"Prefers morning appointments."}],
 "subject":{"reference":"%SUBJECT%"},
 "supportingInfo":[{"reference":"%DOC%"}]%EXTRA%}`

// TestServiceRequestFidelity posts a rich ServiceRequest, in a
// transaction and in the two-step create, reads it back and diffs: what
// the EHR sent comes back unchanged but for the server's id, meta version
// and status, and references to the request's other resources, which
// resolve.
func TestServiceRequestFidelity(t *testing.T) {
	e := newEnv(t)
	north := e.token(t, "ehr-north")
	sent := func(subject, doc, extra string) map[string]any {
		s := strings.NewReplacer("%SUBJECT%", subject, "%DOC%", doc, "%EXTRA%", extra).Replace(richOrder)
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	check := func(t *testing.T, id string, want map[string]any, rewritten ...string) map[string]any {
		t.Helper()
		var got map[string]any
		e.do(t, north, "GET", "/fhir/ServiceRequest/"+id, nil).want(t, http.StatusOK).decode(t, &got)
		for k, v := range want {
			switch k {
			case "meta":
				m := got["meta"].(map[string]any)
				if !reflect.DeepEqual(m["profile"], v.(map[string]any)["profile"]) || !reflect.DeepEqual(m["tag"], v.(map[string]any)["tag"]) ||
					m["versionId"] == nil {
					t.Errorf("meta %v, sent %v", m, v)
				}
			case "status":
				if got[k] != "active" {
					t.Errorf("status %v", got[k])
				}
			default:
				if !contains(rewritten, k) && !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s: got %v, sent %v", k, got[k], v)
				}
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok && k != "id" {
				t.Errorf("%s added: %v", k, got[k])
			}
		}
		// Rewritten references resolve to what the request carried.
		for _, k := range rewritten {
			b, _ := json.Marshal(got[k])
			for _, part := range strings.Split(string(b), `"reference":"`)[1:] {
				ref := part[:strings.Index(part, `"`)]
				e.do(t, north, "GET", "/fhir/"+ref, nil).want(t, http.StatusOK)
			}
		}
		return got
	}

	t.Run("transaction", func(t *testing.T) {
		order := sent("urn:uuid:20000000-0000-4000-8000-000000000003", "urn:uuid:20000000-0000-4000-8000-000000000004", "")
		srJSON, _ := json.Marshal(order)
		body := `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:20000000-0000-4000-8000-000000000001","resource":{"resourceType":"Task","status":"requested","intent":"order",
   "identifier":[{"system":"https://north.example.org/referrals","value":"FID-1"}],
   "focus":{"reference":"urn:uuid:20000000-0000-4000-8000-000000000002"},
   "requester":{"reference":"Organization/org-north"},"owner":{"reference":"Organization/org-ortho"}},"request":{"method":"POST","url":"Task"}},
 {"fullUrl":"urn:uuid:20000000-0000-4000-8000-000000000002","resource":` + string(srJSON) + `,"request":{"method":"POST","url":"ServiceRequest"}},
 {"fullUrl":"urn:uuid:20000000-0000-4000-8000-000000000003","resource":{"resourceType":"Patient","identifier":[{"system":"urn:example:mrn","value":"MRN-FID"}]},
  "request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:20000000-0000-4000-8000-000000000004","resource":{"resourceType":"DocumentReference","status":"current",
   "content":[{"attachment":{"contentType":"text/plain","title":"Letter","data":"U3ludGhldGljIGxldHRlci4="}}]},"request":{"method":"POST","url":"DocumentReference"}}]}`
		var b struct {
			Entry []struct{ Response struct{ Location string } }
		}
		e.do(t, north, "POST", "/fhir", []byte(body)).want(t, http.StatusOK).decode(t, &b)
		id := strings.Split(b.Entry[0].Response.Location, "/")[1]
		got := check(t, id, order, "subject", "supportingInfo")
		if ref := got["subject"].(map[string]any)["reference"]; ref != "Patient/"+id {
			t.Errorf("subject %v, want Patient/%s", ref, id)
		}
	})

	t.Run("two-step", func(t *testing.T) {
		extra := `,"identifier":[{"system":"https://north.example.org/referrals","value":"FID-2"}],
 "performer":[{"reference":"Organization/org-ortho"}],
 "contained":[{"resourceType":"Patient","id":"pat","identifier":[{"system":"urn:example:mrn","value":"MRN-FID-2"}]},
  {"resourceType":"DocumentReference","id":"letter","status":"current","content":[{"attachment":{"contentType":"text/plain","title":"Letter","data":"U3ludGhldGljIGxldHRlci4="}}]}]`
		order := sent("#pat", "#letter", extra)
		body, _ := json.Marshal(order)
		var sr struct{ ID string }
		e.do(t, north, "POST", "/fhir/ServiceRequest", body).want(t, http.StatusCreated).decode(t, &sr)
		order["status"] = "active" // the lifecycle's: a draft's order reads as draft
		var got map[string]any
		e.do(t, north, "GET", "/fhir/ServiceRequest/"+sr.ID, nil).want(t, http.StatusOK).decode(t, &got)
		if got["status"] != "draft" {
			t.Errorf("status of the draft %v", got["status"])
		}
		for _, k := range []string{"contained", "subject", "supportingInfo", "extension", "_status", "_priority", "code",
			"category", "occurrencePeriod", "patientInstruction", "orderDetail", "identifier", "performer", "note"} {
			if !reflect.DeepEqual(got[k], order[k]) {
				t.Errorf("%s: got %v, sent %v", k, got[k], order[k])
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
