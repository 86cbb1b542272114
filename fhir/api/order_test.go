package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// serviceRequest is a ServiceRequest for the two-step create, its Patient,
// Practitioner, Consent and record contained.
func serviceRequest(identifier, performer string) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"ServiceRequest","status":"draft","intent":"order","priority":"urgent",
 "identifier":[{"system":"https://north.example.org/referrals","value":%q}],
 "contained":[
  {"resourceType":"Patient","id":"pat","identifier":[{"system":"urn:example:mrn","value":"MRN-%s"}],"name":[{"family":"Testperson","given":["Pat"]}],"birthDate":"1970-01-01"},
  {"resourceType":"Practitioner","id":"dr","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}],"name":[{"family":"Example","given":["Dana"]}]},
  {"resourceType":"Consent","id":"consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"treatment"}]},
   "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"policyRule":{"coding":[{"system":"urn:referralgw:consent-basis","code":"treatment"}]}},
  {"resourceType":"DocumentReference","id":"letter","status":"current","content":[{"attachment":{"contentType":"text/plain","title":"Referral letter","data":"U3ludGhldGljIGxldHRlci4="}}]}],
 "subject":{"reference":"#pat"},"requester":{"reference":"#dr"},"performer":[{"reference":"Organization/%s"}],
 "reasonCode":[{"coding":[{"system":"http://snomed.info/sct","code":"239873007","display":"Osteoarthritis of knee"}]}],
 "supportingInfo":[{"reference":"#consent"},{"reference":"#letter"}]}`, identifier, identifier, performer))
}

// focusTask is a Task for the second step, its focus a stored ServiceRequest.
func focusTask(srID, status string) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Task","status":%q,"intent":"order",
 "focus":{"reference":"ServiceRequest/%s"},"requester":{"reference":"Organization/org-north"},"owner":{"reference":"Organization/org-ortho"}}`, status, srID))
}

// postServiceRequest creates a draft through POST /fhir/ServiceRequest as
// client and returns its id.
func (e *env) postServiceRequest(t *testing.T, client, identifier, performer string) string {
	t.Helper()
	res := e.do(t, e.token(t, client), "POST", "/fhir/ServiceRequest", serviceRequest(identifier, performer)).want(t, http.StatusCreated)
	var sr struct {
		ID, Status string
		Meta       struct{ VersionID string }
	}
	res.decode(t, &sr)
	if sr.Status != "draft" || sr.ID == "" {
		t.Fatalf("created ServiceRequest %s", res.body)
	}
	wantLoc := fmt.Sprintf("%s/fhir/ServiceRequest/%s/_history/%s", e.srv.URL, sr.ID, sr.Meta.VersionID)
	if res.header.Get("Location") != wantLoc || res.header.Get("ETag") != `W/"`+sr.Meta.VersionID+`"` {
		t.Errorf("Location %q ETag %q, want %q and version %s", res.header.Get("Location"), res.header.Get("ETag"), wantLoc, sr.Meta.VersionID)
	}
	return sr.ID
}

func TestServiceRequestThenTask(t *testing.T) {
	e := newEnv(t)
	north := e.token(t, "ehr-north")
	id := e.postServiceRequest(t, "ehr-north", "TWO-1", orgOrtho)

	// The draft is the referral's: its Task reads back as a draft, and the
	// receiver does not see it yet.
	var got task
	e.do(t, north, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &got)
	if got.Status != "draft" {
		t.Fatalf("Task of the new ServiceRequest is %s, want draft", got.Status)
	}
	ref, _, err := e.svc.Referral(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Priority != "urgent" || ref.Requester.NPI != "1234567893" || len(ref.Records) != 1 || ref.Patient.ID != "MRN-TWO-1" {
		t.Errorf("stored draft: priority %q npi %q records %d patient %q", ref.Priority, ref.Requester.NPI, len(ref.Records), ref.Patient.ID)
	}

	// A draft Task leaves the draft as it is.
	res := e.do(t, north, "POST", "/fhir/Task", focusTask(id, "draft")).want(t, http.StatusCreated)
	res.decode(t, &got)
	if got.ID != id || got.Status != "draft" {
		t.Errorf("draft Task: id %s status %s, want %s draft", got.ID, got.Status, id)
	}

	// A requested Task submits it.
	res = e.do(t, north, "POST", "/fhir/Task", focusTask(id, "requested")).want(t, http.StatusCreated)
	res.decode(t, &got)
	if got.ID != id || got.Status != "requested" {
		t.Fatalf("submitting Task: id %s status %s, want %s requested", got.ID, got.Status, id)
	}
	if !strings.HasPrefix(res.header.Get("Location"), e.srv.URL+"/fhir/Task/"+id+"/_history/") || res.header.Get("ETag") != `W/"`+got.Meta.VersionID+`"` {
		t.Errorf("Location %q ETag %q", res.header.Get("Location"), res.header.Get("ETag"))
	}
	var seen task
	e.do(t, e.token(t, "ehr-ortho"), "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &seen)
	if seen.Status != "requested" {
		t.Errorf("receiver reads status %s, want requested", seen.Status)
	}
	r, ds, err := e.svc.Referral(t.Context(), id)
	if err != nil || r.Status != gateway.StatusRequested || len(ds) != 1 {
		t.Errorf("after the submitting Task: %v, %d deliveries queued, err %v", r.Status, len(ds), err)
	}
	list, err := e.svc.ListReferrals(t.Context(), gateway.ReferralQuery{RequesterOrg: orgNorth})
	if err != nil || len(list) != 1 {
		t.Errorf("%d referrals after the two-step create (err %v), want 1", len(list), err)
	}

	t.Run("conditional create of the ServiceRequest", func(t *testing.T) {
		hdr := []string{"If-None-Exist", "identifier=https://north.example.org/referrals|TWO-1"}
		res := e.do(t, north, "POST", "/fhir/ServiceRequest", serviceRequest("TWO-1", orgOrtho), hdr...).want(t, http.StatusOK)
		var sr struct{ ID string }
		res.decode(t, &sr)
		if sr.ID != id {
			t.Errorf("conditional create found %s, want %s", sr.ID, id)
		}
	})
}

func TestServiceRequestThenTaskRefusals(t *testing.T) {
	e := newEnv(t)
	north := e.token(t, "ehr-north")
	submitted := e.postServiceRequest(t, "ehr-north", "TWO-SUB", orgOrtho)
	e.do(t, north, "POST", "/fhir/Task", focusTask(submitted, "requested")).want(t, http.StatusCreated)
	otherDraft := e.postServiceRequest(t, "ehr-other", "TWO-OTHER", orgOrtho)
	draft := e.postServiceRequest(t, "ehr-north", "TWO-DRAFT", orgOrtho)
	blocked := e.postServiceRequest(t, "ehr-north", "TWO-GATE", orgOther)

	tests := []struct {
		name, client, path string
		body               []byte
		status             int
		code, expression   string
	}{
		{"focus of another organisation", "ehr-north", "/fhir/Task", focusTask(otherDraft, "requested"), 404, "not-found", ""},
		{"focus that does not exist", "ehr-north", "/fhir/Task", focusTask("no-such-id", "requested"), 404, "not-found", ""},
		{"receiver cannot adopt a draft it does not own", "ehr-ortho", "/fhir/Task", focusTask(submitted, "requested"), 404, "not-found", ""},
		{"focus not a draft", "ehr-north", "/fhir/Task", focusTask(submitted, "requested"), 422, "business-rule", "Task.focus"},
		{"owner differs from the performer", "ehr-north", "/fhir/Task",
			[]byte(strings.Replace(string(focusTask(draft, "requested")), "Organization/org-ortho", "Organization/org-other", 1)), 422, "business-rule", "Task.owner"},
		{"Task status other than draft or requested", "ehr-north", "/fhir/Task", focusTask(draft, "accepted"), 400, "", "Task.status"},
		{"missing ServiceRequest create scope", "ehr-readonly", "/fhir/ServiceRequest", serviceRequest("TWO-RO", orgOrtho), 403, "forbidden", ""},
		{"missing Task create scope", "ehr-readonly", "/fhir/Task", focusTask(draft, "requested"), 403, "forbidden", ""},
		{"ServiceRequest without a performer", "ehr-north", "/fhir/ServiceRequest",
			[]byte(strings.Replace(string(serviceRequest("TWO-NP", orgOrtho)), `"performer":[{"reference":"Organization/org-ortho"}],`, "", 1)), 400, "", "ServiceRequest.performer"},
		{"ServiceRequest without a reason", "ehr-north", "/fhir/ServiceRequest",
			[]byte(strings.Replace(string(serviceRequest("TWO-NR", orgOrtho)), `"code":"239873007",`, "", 1)), 400, "", "ServiceRequest.reasonCode"},
		{"ServiceRequest requested by another organisation", "ehr-north", "/fhir/ServiceRequest",
			[]byte(strings.Replace(string(serviceRequest("TWO-RQ", orgOrtho)), `"requester":{"reference":"#dr"}`, `"requester":{"reference":"Organization/org-other"}`, 1)), 403, "forbidden", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, e.token(t, tt.client), "POST", tt.path, tt.body).want(t, tt.status)
			var oo OperationOutcome
			res.decode(t, &oo)
			if len(oo.Issue) == 0 || (tt.code != "" && oo.Issue[0].Code != tt.code) {
				t.Fatalf("outcome %s, want code %s", res.body, tt.code)
			}
			if tt.expression != "" && !slices.Contains(oo.Issue[0].Expression, tt.expression) {
				t.Errorf("expression %v, want %s", oo.Issue[0].Expression, tt.expression)
			}
		})
	}

	t.Run("a submit refused by a gate answers like PUT and leaves the draft saying why", func(t *testing.T) {
		viaPut := e.postServiceRequest(t, "ehr-north", "TWO-GATE-PUT", orgOther)
		put := e.putStatus(t, "ehr-north", viaPut, setStatus("requested", nil))
		post := e.do(t, north, "POST", "/fhir/Task", []byte(strings.Replace(string(focusTask(blocked, "requested")), "Organization/org-ortho", "Organization/org-other", 1)))
		var putOO, postOO OperationOutcome
		put.decode(t, &putOO)
		post.decode(t, &postOO)
		if put.status < 400 || post.status != put.status || len(postOO.Issue) == 0 || len(putOO.Issue) == 0 || postOO.Issue[0].Code != putOO.Issue[0].Code || postOO.Issue[0].Diagnostics != putOO.Issue[0].Diagnostics ||
			!slices.Equal(postOO.Issue[0].Expression, putOO.Issue[0].Expression) {
			t.Fatalf("gate refusal: POST answered %d %s, PUT %d %s", post.status, post.body, put.status, put.body)
		}
		var got task
		e.do(t, north, "GET", "/fhir/Task/"+blocked, nil).want(t, http.StatusOK).decode(t, &got)
		if got.Status != "draft" || len(got.Note) == 0 || got.Note[0].ID != "blocked" {
			t.Errorf("refused submit left %+v", got)
		}
	})
}
