package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fhir/smart"
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
	// A token with every scope: what is refused here is the content.
	all := e.token(t, "ehr-north-all")
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(strings.ReplaceAll(fullTransaction, `"TX-1"`, `"TX-2"`), tt.from, tt.to, 1)
			res := e.do(t, all, "POST", "/fhir", []byte(body)).want(t, http.StatusBadRequest)
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

// TestTransactionEntryScopes: every transaction entry is authorised for
// its own interaction (SMART: the resource type it names and what it does
// to it), before anything is stored; a missing scope is a 403 naming each
// entry it concerns, in the insufficient_scope form of any other request.
func TestTransactionEntryScopes(t *testing.T) {
	e := newEnv(t)
	// Registered for every type the transaction carries, but without the
	// create scope of some; the Task and ServiceRequest scopes are there.
	scoped := func(id string, scopes ...string) string {
		e.reg.Put(smart.Client{ID: id, OrgID: orgNorth, Scopes: scopes, JWKS: smart.JWKS{{KID: "ehr-north-key", Key: &e.keys["ehr-north"].PublicKey}}})
		ts := e.tokenSource("ehr-north")
		ts.ClientID, ts.Scopes = id, scopes
		tok, err := ts.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	core := []string{"system/Task.cruds", "system/ServiceRequest.cruds", "system/Patient.cr", "system/Practitioner.cr", "system/Consent.cr"}
	stored := func() int {
		list, err := e.svc.ListReferrals(context.Background(), gateway.ReferralQuery{RequesterOrg: orgNorth})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	tests := []struct {
		name    string
		scopes  []string
		entries []string // the entries the outcome names
		missing string   // the scopes the challenge names
	}{
		{"no DocumentReference or Binary create", append(core, "system/DocumentReference.rs", "system/Binary.r"),
			[]string{"Bundle.entry[5]", "Bundle.entry[6]"}, "system/DocumentReference.c system/Binary.c"},
		{"no Binary create", append(core, "system/DocumentReference.crs", "system/Binary.r"),
			[]string{"Bundle.entry[6]"}, "system/Binary.c"},
		{"Patient read only", []string{"system/Task.cruds", "system/ServiceRequest.cruds", "system/Patient.r", "system/Practitioner.c",
			"system/Consent.c", "system/DocumentReference.c", "system/Binary.c"}, []string{"Bundle.entry[2]"}, "system/Patient.c"},
		{"Task and ServiceRequest only (what used to be enough)", []string{"system/Task.c", "system/ServiceRequest.c"},
			[]string{"Bundle.entry[2]", "Bundle.entry[3]", "Bundle.entry[4]", "Bundle.entry[5]", "Bundle.entry[6]"},
			"system/Patient.c system/Practitioner.c system/Consent.c system/DocumentReference.c system/Binary.c"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stored()
			tok := scoped(fmt.Sprintf("ehr-north-scoped-%d", i), tt.scopes...)
			res := e.do(t, tok, "POST", "/fhir", []byte(fullTransaction)).want(t, http.StatusForbidden)
			var oo OperationOutcome
			res.decode(t, &oo)
			var named []string
			for _, is := range oo.Issue {
				if is.Code != "forbidden" || len(is.Expression) != 1 {
					t.Errorf("issue %+v", is)
					continue
				}
				named = append(named, is.Expression[0])
			}
			if strings.Join(named, " ") != strings.Join(tt.entries, " ") {
				t.Errorf("outcome names %v, want %v: %s", named, tt.entries, res.body)
			}
			if got, want := res.header.Get("WWW-Authenticate"), `Bearer realm="fhir", error="insufficient_scope", scope="`+tt.missing+`"`; got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
			if got := stored(); got != before {
				t.Errorf("a refused transaction stored %d referrals", got-before)
			}
		})
	}
	if trail := e.auditActions(t, orgNorth); !slices.Contains(trail, "auth.scope.refused/"+audit.OutcomeRefused) {
		t.Errorf("refusal not audited: %v", trail)
	}

	// With the scope of every entry it goes through; an entry the gateway
	// would never store still needs its scope first (Observation.c), and
	// with it is refused for what it is (400).
	tok := scoped("ehr-north-every", append(core, "system/DocumentReference.c", "system/Binary.c")...)
	e.do(t, tok, "POST", "/fhir", []byte(fullTransaction)).want(t, http.StatusOK)
	obs := strings.Replace(strings.ReplaceAll(fullTransaction, `"TX-1"`, `"TX-3"`), `{"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000007"`,
		`{"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000008","resource":{"resourceType":"Observation","status":"final","code":{"text":"BP"}},"request":{"method":"POST","url":"Observation"}},
		 {"fullUrl":"urn:uuid:10000000-0000-4000-8000-000000000007"`, 1)
	res := e.do(t, tok, "POST", "/fhir", []byte(obs)).want(t, http.StatusForbidden)
	if !strings.Contains(string(res.body), "Bundle.entry[6]") || !strings.Contains(string(res.body), "system/Observation.c") {
		t.Errorf("Observation entry without its scope: %s", res.body)
	}
	// A GET (a read inside the transaction) needs the read scope; a PUT
	// the update scope.
	get := strings.Replace(strings.ReplaceAll(fullTransaction, `"TX-1"`, `"TX-4"`), `"request":{"method":"POST","url":"Binary"}`,
		`"request":{"method":"GET","url":"Binary/abc"}`, 1)
	res = e.do(t, tok, "POST", "/fhir", []byte(get)).want(t, http.StatusForbidden)
	if !strings.Contains(string(res.body), "system/Binary.r") || !strings.Contains(string(res.body), "Bundle.entry[6]") {
		t.Errorf("GET entry without read scope: %s", res.body)
	}
	put := strings.Replace(strings.ReplaceAll(fullTransaction, `"TX-1"`, `"TX-5"`), `"request":{"method":"POST","url":"Patient"}`,
		`"request":{"method":"PUT","url":"Patient?identifier=urn:example:mrn|MRN-TX-1"}`, 1)
	res = e.do(t, tok, "POST", "/fhir", []byte(put)).want(t, http.StatusForbidden)
	if !strings.Contains(string(res.body), "system/Patient.u") {
		t.Errorf("conditional update entry without update scope: %s", res.body)
	}
	// The resource must be of the type request.url creates.
	wrong := strings.Replace(strings.ReplaceAll(fullTransaction, `"TX-1"`, `"TX-6"`), `"request":{"method":"POST","url":"Binary"}`,
		`"request":{"method":"POST","url":"Patient"}`, 1)
	res = e.do(t, e.token(t, "ehr-north-all"), "POST", "/fhir", []byte(wrong)).want(t, http.StatusBadRequest)
	if !strings.Contains(string(res.body), "Bundle.entry[6].request.url") {
		t.Errorf("type mismatch: %s", res.body)
	}
}
