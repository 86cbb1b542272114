package mapping

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/referralgw/gateway/fhir/mapping/schematest"
	"github.com/referralgw/gateway/gateway"
)

const fidelityOrder = `{"resourceType":"ServiceRequest","status":"active","intent":"order","priority":"urgent",
 "_priority":{"extension":[{"url":"http://example.org/fhir/StructureDefinition/priority-reason","valueString":"worsening"}]},
 "extension":[{"url":"http://example.org/fhir/StructureDefinition/referral-channel","valueCode":"portal"}],
 "category":[{"coding":[{"system":"http://snomed.info/sct","code":"3457005"}]}],
 "code":{"coding":[{"system":"http://snomed.info/sct","code":"306181000000106"}]},
 "occurrenceDateTime":"2026-03-20","patientInstruction":"Fast from midnight.",
 "reasonCode":[{"coding":[{"system":"http://snomed.info/sct","code":"239873007"}]}],
 "subject":{"reference":"urn:uuid:30000000-0000-4000-8000-000000000003"},
 "requester":{"reference":"urn:uuid:30000000-0000-4000-8000-000000000005"},
 "performer":[{"reference":"PractitionerRole/dr-knee"}],
 "supportingInfo":[{"reference":"urn:uuid:30000000-0000-4000-8000-000000000004"},{"reference":"urn:uuid:30000000-0000-4000-8000-000000000006"}]}`

const fidelityBundle = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:30000000-0000-4000-8000-000000000001","resource":{"resourceType":"Task","status":"requested","intent":"order",
   "focus":{"reference":"urn:uuid:30000000-0000-4000-8000-000000000002"},"requester":{"reference":"Organization/org-a"}},"request":{"method":"POST","url":"Task"}},
 {"fullUrl":"urn:uuid:30000000-0000-4000-8000-000000000002","resource":ORDER,"request":{"method":"POST","url":"ServiceRequest"}},
 {"fullUrl":"urn:uuid:30000000-0000-4000-8000-000000000003","resource":{"resourceType":"Patient","identifier":[{"system":"urn:example:mrn","value":"MRN-1"}]},"request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:30000000-0000-4000-8000-000000000005","resource":{"resourceType":"Practitioner","name":[{"text":"Dr Example"}]},"request":{"method":"POST","url":"Practitioner"}},
 {"fullUrl":"urn:uuid:30000000-0000-4000-8000-000000000006","resource":{"resourceType":"Consent","status":"active",
   "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"treatment"}]},
   "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
   "policyRule":{"coding":[{"system":"urn:referralgw:consent-basis","code":"treatment"}]}},"request":{"method":"POST","url":"Consent"}},
 {"fullUrl":"urn:uuid:30000000-0000-4000-8000-000000000004","resource":{"resourceType":"DocumentReference","status":"current",
   "content":[{"attachment":{"contentType":"text/plain","title":"Letter","data":"U3ludGhldGljIGxldHRlci4="}}]},"request":{"method":"POST","url":"DocumentReference"}}]}`

// TestServiceRequestFidelity checks that the ServiceRequest an EHR sent is
// kept as sent and pushed unchanged to the receiver, its references to the
// request's other resources made to work in the pushed Bundle, and that
// the pushed Bundle is valid R4 and reads back.
func TestServiceRequestFidelity(t *testing.T) {
	s, err := ParseTransaction([]byte(strings.Replace(fidelityBundle, "ORDER", fidelityOrder, 1)))
	if err != nil {
		t.Fatal(err)
	}
	n := s.Referral
	content := n.Records[0].Content
	rec := gateway.Record{ID: "rec-1", Title: "Letter", ContentType: "text/plain", SHA256: gateway.ContentHash(content), Size: int64(len(content))}
	r := &gateway.Referral{ID: "ref-1", Version: 2, Created: t0, Updated: t0, Status: gateway.StatusRequested, Priority: n.Priority,
		Requester: n.Requester, ReceiverID: "dr-knee", ReceiverKind: gateway.KindPractitioner, ReceiverOrgID: "org-b",
		Patient: n.Patient, Reason: n.Reason, Consent: n.Consent, Records: []gateway.Record{rec}}

	rendered, err := RenderServiceRequest(r, n.Order)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := NewTransaction(r, "dlv-1", []gateway.RecordContent{{Record: rec, Content: content}}, n.Order)
	if err != nil {
		t.Fatal(err)
	}
	v := schematest.New(t)
	v.Validate(t, rendered)
	v.Validate(t, pushed)

	var sent, read map[string]any
	if err := json.Unmarshal([]byte(fidelityOrder), &sent); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rendered, &read); err != nil {
		t.Fatal(err)
	}
	var b struct {
		Entry []struct {
			FullURL  string         `json:"fullUrl"`
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(pushed, &b); err != nil {
		t.Fatal(err)
	}
	out := b.Entry[0].Resource
	for _, k := range []string{"extension", "_priority", "category", "code", "occurrenceDateTime", "patientInstruction", "reasonCode", "priority", "intent"} {
		if !reflect.DeepEqual(read[k], sent[k]) {
			t.Errorf("read back %s: %v, sent %v", k, read[k], sent[k])
		}
		if !reflect.DeepEqual(out[k], sent[k]) {
			t.Errorf("pushed %s: %v, sent %v", k, out[k], sent[k])
		}
	}
	if got := read["subject"].(map[string]any)["reference"]; got != "Patient/ref-1" {
		t.Errorf("read back subject %v", got)
	}
	if got := out["subject"].(map[string]any)["reference"]; got != "#"+pushedPatient {
		t.Errorf("pushed subject %v", got)
	}
	docURL := ""
	for _, en := range b.Entry {
		if en.Resource["resourceType"] == "DocumentReference" {
			docURL = en.FullURL
		}
	}
	info, _ := json.Marshal(out["supportingInfo"])
	if docURL == "" || !strings.Contains(string(info), docURL) || !strings.Contains(string(info), "#"+pushedConsent) {
		t.Errorf("pushed supportingInfo %s, DocumentReference entry %s", info, docURL)
	}
	perf, _ := json.Marshal(out["performer"])
	if !strings.Contains(string(perf), `"value":"dr-knee"`) || !strings.Contains(string(perf), `"type":"PractitionerRole"`) {
		t.Errorf("pushed performer %s: want a logical PractitionerRole reference", perf)
	}
	// The receiving side (a gateway too) reads the pushed Bundle back.
	back, err := ParseTransaction(pushed)
	if err != nil {
		t.Fatalf("pushed Bundle does not read back: %v", err)
	}
	if back.Referral.Patient.ID != "MRN-1" || len(back.Referral.Records) != 1 || back.Referral.Consent.Kind != gateway.ConsentTreatment {
		t.Errorf("pushed Bundle read back as %+v", back.Referral)
	}
}

// TestGeneratedReceiverReference checks the receiver reference of a
// referral created outside FHIR: PractitionerRole for a practitioner,
// Organization otherwise.
func TestGeneratedReceiverReference(t *testing.T) {
	for kind, want := range map[gateway.EntryKind]string{gateway.KindPractitioner: "PractitionerRole/x", gateway.KindOrganization: "Organization/x", "": "Organization/x"} {
		r := &gateway.Referral{ID: "r", Version: 1, Status: gateway.StatusDraft, ReceiverID: "x", ReceiverKind: kind,
			Requester: gateway.Requester{OrgID: "a"}, Patient: gateway.Patient{ID: "p"}, Reason: gateway.Coding{Code: "c"},
			Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment}}
		sr, err := NewServiceRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := str(sr.Performer[0].Reference); got != want || str(NewTask(r).Owner.Reference) != want {
			t.Errorf("kind %q: performer %s, owner %s, want %s", kind, got, str(NewTask(r).Owner.Reference), want)
		}
	}
}
