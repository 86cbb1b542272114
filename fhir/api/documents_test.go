package api

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// TestReceiverReadsDocuments follows Task.input to the DocumentReference
// and its Binary, as a pulling receiver does, and checks who may not.
func TestReceiverReadsDocuments(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "D-1", "requested")
	ortho := e.token(t, "ehr-ortho")
	var tk struct {
		Input []struct {
			ValueReference struct{ Reference string } `json:"valueReference"`
		} `json:"input"`
	}
	e.do(t, ortho, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &tk)
	if len(tk.Input) != 1 || !strings.HasPrefix(tk.Input[0].ValueReference.Reference, "DocumentReference/") {
		t.Fatalf("Task.input %+v", tk.Input)
	}
	docRef := tk.Input[0].ValueReference.Reference
	var sr struct {
		SupportingInfo []struct{ Reference string } `json:"supportingInfo"`
	}
	e.do(t, ortho, "GET", "/fhir/ServiceRequest/"+id, nil).want(t, http.StatusOK).decode(t, &sr)
	found := false
	for _, si := range sr.SupportingInfo {
		found = found || si.Reference == docRef
	}
	if !found {
		t.Fatalf("ServiceRequest.supportingInfo %+v lacks %s", sr.SupportingInfo, docRef)
	}

	var doc struct {
		ResourceType string `json:"resourceType"`
		Status       string `json:"status"`
		Content      []struct {
			Attachment struct {
				ContentType string `json:"contentType"`
				URL         string `json:"url"`
				Title       string `json:"title"`
			} `json:"attachment"`
		} `json:"content"`
		Context struct {
			Related []struct{ Reference string } `json:"related"`
		} `json:"context"`
	}
	for _, client := range []string{"ehr-ortho", "ehr-north"} {
		e.do(t, e.token(t, client), "GET", "/fhir/"+docRef, nil).want(t, http.StatusOK).decode(t, &doc)
	}
	if doc.ResourceType != "DocumentReference" || doc.Status != "current" || len(doc.Content) != 1 ||
		doc.Content[0].Attachment.Title != "Referral letter" || len(doc.Context.Related) != 1 ||
		doc.Context.Related[0].Reference != "ServiceRequest/"+id {
		t.Fatalf("DocumentReference %+v", doc)
	}
	binRef := doc.Content[0].Attachment.URL
	if !strings.HasPrefix(binRef, "Binary/") {
		t.Fatalf("attachment url %q", binRef)
	}
	var bin struct {
		ResourceType    string                     `json:"resourceType"`
		ContentType     string                     `json:"contentType"`
		Data            string                     `json:"data"`
		SecurityContext struct{ Reference string } `json:"securityContext"`
	}
	e.do(t, ortho, "GET", "/fhir/"+binRef, nil).want(t, http.StatusOK).decode(t, &bin)
	content, err := base64.StdEncoding.DecodeString(bin.Data)
	if err != nil || string(content) != "Synthetic letter." || bin.ContentType != "text/plain" || bin.SecurityContext.Reference != docRef {
		t.Fatalf("Binary %+v (%q, %v)", bin, content, err)
	}
	raw := e.do(t, ortho, "GET", "/fhir/"+binRef, nil, "Accept", "text/plain").want(t, http.StatusOK)
	if string(raw.body) != "Synthetic letter." || !strings.HasPrefix(raw.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("raw Binary %q as %s", raw.body, raw.header.Get("Content-Type"))
	}

	// Another practice holds every scope but is no party: not found, never forbidden.
	other := e.token(t, "ehr-other")
	for _, path := range []string{docRef, binRef} {
		e.do(t, other, "GET", "/fhir/"+path, nil).want(t, http.StatusNotFound)
	}
	// A token without the scopes is refused.
	ro := e.token(t, "ehr-readonly")
	e.do(t, ro, "GET", "/fhir/"+docRef, nil).want(t, http.StatusForbidden)
	e.do(t, ro, "GET", "/fhir/"+binRef, nil).want(t, http.StatusForbidden)
	e.do(t, ortho, "GET", "/fhir/Binary/no-such-record", nil).want(t, http.StatusNotFound)
	e.do(t, ortho, "PUT", "/fhir/"+binRef, []byte(`{}`)).want(t, http.StatusMethodNotAllowed)
}

// TestTokenSearchSemantics checks R4 token semantics on every token
// parameter of Task: a named system must match, |code means no system,
// and a code alone matches any system.
func TestTokenSearchSemantics(t *testing.T) {
	e := newEnv(t)
	north := e.token(t, "ehr-north")
	post := func(identifier, patientSystem string) string {
		body := strings.ReplaceAll(string(transaction(identifier, "draft")), "urn:example:mrn", patientSystem)
		body = strings.ReplaceAll(body, `"MRN-`+identifier+`"`, `"MRN-SHARED"`)
		var b struct {
			Entry []struct{ Response struct{ Location string } }
		}
		e.do(t, north, "POST", "/fhir", []byte(body)).want(t, http.StatusOK).decode(t, &b)
		return strings.Split(b.Entry[0].Response.Location, "/")[1]
	}
	a := post("T-1", "urn:sys:a")
	b := post("T-2", "urn:sys:b")
	tests := []struct {
		query string
		want  []string
	}{
		{"patient=urn:sys:a|MRN-SHARED", []string{a}},
		{"patient:identifier=urn:sys:b|MRN-SHARED", []string{b}},
		{"patient=MRN-SHARED", []string{a, b}},
		{"patient=|MRN-SHARED", nil},
		{"patient=urn:sys:c|MRN-SHARED", nil},
		{"identifier=T-1", []string{a}},
		{"identifier=https://north.example.org/referrals|T-2", []string{b}},
		{"identifier=urn:other|T-2", nil},
		{"identifier=|T-2", nil},
		{"status=draft", []string{a, b}},
		{"status=http://hl7.org/fhir/task-status|draft", []string{a, b}},
		{"status=urn:other|draft", nil},
		{"status=|draft", nil},
		{"status=urn:other|draft,requested", nil},
	}
	for _, tt := range tests {
		var sb searchBundle
		e.do(t, north, "GET", "/fhir/Task?"+tt.query, nil).want(t, http.StatusOK).decode(t, &sb)
		var got []string
		for _, en := range sb.Entry {
			got = append(got, en.Resource.ID)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: got %v, want %v", tt.query, got, tt.want)
		}
	}
}
