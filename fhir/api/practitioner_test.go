package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
)

// TestPractitionerReceiverIsPractitionerRole checks that a referral to a
// directory practitioner names it PractitionerRole/<id> in Task.owner (and
// the EHR's ServiceRequest.performer reads back as sent), as the directory
// export names the same entry, and that searching by that reference finds
// it. TestGeneratedReceiverReference covers referrals made outside FHIR.
func TestPractitionerReceiverIsPractitionerRole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.PutEntry(ctx, gateway.Actor{ID: "user:admin"}, &gateway.Entry{ID: "dr-knee", Kind: gateway.KindPractitioner,
		Name: "Dr. Knee (synthetic)", ParentID: orgOrtho, OnPlatform: true, FHIR: &gateway.FHIREndpoint{}}); err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(transaction("PR-1", "draft")), `"owner":{"reference":"Organization/org-ortho"}`,
		`"owner":{"reference":"PractitionerRole/dr-knee"}`, 1)
	body = strings.Replace(body, `"subject":`, `"performer":[{"reference":"PractitionerRole/dr-knee"}],"subject":`, 1)
	north := e.token(t, "ehr-north")
	var b struct {
		Entry []struct{ Response struct{ Location string } }
	}
	e.do(t, north, "POST", "/fhir", []byte(body)).want(t, http.StatusOK).decode(t, &b)
	id := strings.Split(b.Entry[0].Response.Location, "/")[1]

	var tk struct {
		Owner struct{ Reference, Type string }
	}
	e.do(t, north, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &tk)
	var sr struct {
		Performer []struct{ Reference, Type string }
	}
	e.do(t, north, "GET", "/fhir/ServiceRequest/"+id, nil).want(t, http.StatusOK).decode(t, &sr)
	if tk.Owner.Reference != "PractitionerRole/dr-knee" || tk.Owner.Type != "PractitionerRole" ||
		len(sr.Performer) != 1 || sr.Performer[0].Reference != "PractitionerRole/dr-knee" {
		t.Fatalf("owner %+v, performer %+v", tk.Owner, sr.Performer)
	}
	var found searchBundle
	e.do(t, north, "GET", "/fhir/Task?owner=PractitionerRole/dr-knee", nil).want(t, http.StatusOK).decode(t, &found)
	if len(found.Entry) != 1 || found.Entry[0].Resource.ID != id {
		t.Errorf("search by owner: %+v", found.Entry)
	}

	var out bytes.Buffer
	if err := dirimport.ExportFHIR(ctx, e.svc, &out); err != nil {
		t.Fatal(err)
	}
	var export struct {
		Entry []struct {
			Resource struct{ ResourceType, ID string }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &export); err != nil {
		t.Fatal(err)
	}
	kind := ""
	for _, en := range export.Entry {
		if en.Resource.ID == "dr-knee" {
			kind = en.Resource.ResourceType
		}
	}
	if kind+"/dr-knee" != tk.Owner.Reference {
		t.Errorf("directory export names the entry %s/dr-knee, the Task %s", kind, tk.Owner.Reference)
	}
}
