package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// fullTransaction is a referral transaction whose every resource is its
// own entry: Task, ServiceRequest, Patient, Practitioner, Consent and a
// DocumentReference with its Binary.
const fullTransaction = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000001","resource":{"resourceType":"Task","status":"requested","intent":"order",
   "identifier":[{"system":"https://north.example.org/referrals","value":"TX-1"}],
   "focus":{"reference":"urn:uuid:10000000-0000-4000-8000-000000000002"},
   "requester":{"reference":"Organization/org-north"},"owner":{"reference":"Organization/org-ortho"}},
  "request":{"method":"POST","url":"Task"}},
 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000002","resource":{"resourceType":"ServiceRequest","status":"active","intent":"order",
   "subject":{"reference":"urn:uuid:10000000-0000-4000-8000-000000000003"},
   "requester":{"reference":"urn:uuid:10000000-0000-4000-8000-000000000004"},
   "reasonCode":[{"coding":[{"system":"http://snomed.info/sct","code":"239873007"}]}],
   "supportingInfo":[{"reference":"urn:uuid:10000000-0000-4000-8000-000000000005"},{"reference":"urn:uuid:10000000-0000-4000-8000-000000000006"}]},
  "request":{"method":"POST","url":"ServiceRequest"}},
 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000003","resource":{"resourceType":"Patient",
   "identifier":[{"system":"urn:example:mrn","value":"MRN-TX-1"}],"name":[{"family":"Testperson","given":["Pat"]}]},
  "request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000004","resource":{"resourceType":"Practitioner",
   "identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}],"name":[{"text":"Dr Example"}]},
  "request":{"method":"POST","url":"Practitioner"}},
 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000005","resource":{"resourceType":"Consent","status":"active",
   "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"treatment"}]},
   "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
   "policyRule":{"coding":[{"system":"urn:referralgw:consent-basis","code":"treatment"}]}},
  "request":{"method":"POST","url":"Consent"}},
 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000006","resource":{"resourceType":"DocumentReference","status":"current",
   "content":[{"attachment":{"contentType":"text/plain","title":"Letter","url":"urn:uuid:10000000-0000-4000-8000-000000000007"}}]},
  "request":{"method":"POST","url":"DocumentReference"}},
 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000007","resource":{"resourceType":"Binary","contentType":"text/plain","data":"U3ludGhldGljIGxldHRlci4="},
  "request":{"method":"POST","url":"Binary"}}
]}`

// TestTransactionTellsTheTruth checks that every transaction-response
// entry names a location that resolves to what was stored, and that a
// transaction carrying something the gateway would not store is refused
// whole, naming the entry.
func TestTransactionTellsTheTruth(t *testing.T) {
	e := newEnv(t)
	north := e.token(t, "ehr-north")
	var b struct {
		Type  string
		Entry []struct {
			Response struct{ Status, Location, Etag string }
		}
	}
	e.do(t, north, "POST", "/fhir", []byte(fullTransaction)).want(t, http.StatusOK).decode(t, &b)
	wantTypes := []string{"Task", "ServiceRequest", "Patient", "Practitioner", "Consent", "DocumentReference", "Binary"}
	if b.Type != "transaction-response" || len(b.Entry) != len(wantTypes) {
		t.Fatalf("response %+v", b)
	}
	for i, en := range b.Entry {
		if en.Response.Status != "201 Created" || !strings.HasPrefix(en.Response.Location, wantTypes[i]+"/") {
			t.Errorf("entry %d: %+v, want 201 and a %s location", i, en.Response, wantTypes[i])
			continue
		}
		var got struct{ ResourceType string }
		e.do(t, north, "GET", "/fhir/"+en.Response.Location, nil).want(t, http.StatusOK).decode(t, &got)
		if got.ResourceType != wantTypes[i] {
			t.Errorf("entry %d: %s reads as a %s", i, en.Response.Location, got.ResourceType)
		}
	}
	var pat struct {
		Identifier []struct{ System, Value string }
	}
	e.do(t, north, "GET", "/fhir/"+b.Entry[2].Response.Location, nil).decode(t, &pat)
	if len(pat.Identifier) != 1 || pat.Identifier[0].Value != "MRN-TX-1" {
		t.Errorf("Patient read back %+v", pat)
	}
	e.do(t, e.token(t, "ehr-other"), "GET", "/fhir/"+b.Entry[2].Response.Location, nil).want(t, http.StatusNotFound)

	stored := func() int {
		list, err := e.svc.ListReferrals(context.Background(), gateway.ReferralQuery{RequesterOrg: orgNorth})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	before := stored()
	refused := []struct {
		name, from, to, expr string
	}{
		{"an extra Observation",
			`{"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000007"`,
			`{"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000008","resource":{"resourceType":"Observation","status":"final","code":{"text":"BP"}},"request":{"method":"POST","url":"Observation"}},
			 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000007"`,
			"Bundle.entry[6].resource"},
		{"a second, unreferenced Patient",
			`{"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000007"`,
			`{"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000009","resource":{"resourceType":"Patient","identifier":[{"value":"X"}]},"request":{"method":"POST","url":"Patient"}},
			 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000007"`,
			"Bundle.entry[6].resource"},
		{"a PUT entry",
			`"request":{"method":"POST","url":"Consent"}`,
			`"request":{"method":"PUT","url":"Consent/abc"}`,
			"Bundle.entry[4].request.method"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(strings.ReplaceAll(fullTransaction, `"TX-1"`, `"TX-2"`), tt.from, tt.to, 1)
			res := e.do(t, north, "POST", "/fhir", []byte(body)).want(t, http.StatusBadRequest)
			var oo OperationOutcome
			res.decode(t, &oo)
			if len(oo.Issue) == 0 || len(oo.Issue[0].Expression) == 0 || oo.Issue[0].Expression[0] != tt.expr {
				t.Errorf("OperationOutcome does not name %s: %s", tt.expr, res.body)
			}
		})
	}
	if got := stored(); got != before {
		t.Fatalf("refused transactions stored %d referrals", got-before)
	}

	t.Run("a created ServiceRequest's Location resolves", func(t *testing.T) {
		res := e.do(t, north, "POST", "/fhir/ServiceRequest", serviceRequest("LOC-1", orgOrtho)).want(t, http.StatusCreated)
		var sr struct{ ResourceType, ID string }
		e.do(t, north, "GET", res.header.Get("Location"), nil).want(t, http.StatusOK).decode(t, &sr)
		if sr.ResourceType != "ServiceRequest" || !strings.Contains(res.header.Get("Location"), sr.ID) {
			t.Errorf("Location %s read %+v", res.header.Get("Location"), sr)
		}
	})
}
