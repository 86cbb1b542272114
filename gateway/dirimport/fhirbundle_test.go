package dirimport_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
)

func TestFHIRBundleSample(t *testing.T) {
	rows, err := dirimport.FHIRBundle(bytes.NewReader(readFixture(t, "plannet_bundle.json")))
	if err != nil {
		t.Fatal(err)
	}
	items := collect(t, rows)
	if rows.Total != len(items) {
		t.Errorf("Total = %d, yielded %d", rows.Total, len(items))
	}
	got := entries(items)

	want := []gateway.Entry{
		{ID: "org-birchwood", Kind: gateway.KindOrganization, Name: "Birchwood Cardiology, P.C.", NPI: "9990000025",
			Direct: &gateway.DirectEndpoint{Address: "intake@direct.birchwood.example"}},
		{ID: "org-birch-east", Kind: gateway.KindOrganization, Name: "Birchwood Cardiology East Clinic", ParentID: "org-birchwood"},
		{ID: "loc-main", Kind: gateway.KindLocation, Name: "Birchwood Main Campus", ParentID: "org-birchwood"},
		{ID: "role-ann", Kind: gateway.KindPractitioner, Name: "Dr. Ann Q Testperson", NPI: "9990000066", ParentID: "org-birchwood",
			Direct: &gateway.DirectEndpoint{Address: "ann.testperson@direct.birchwood.example"},
			FHIR:   &gateway.FHIREndpoint{BaseURL: "https://fhir.birchwood.example/r4"}},
	}
	for _, w := range want {
		e := got[w.ID]
		if e == nil {
			t.Errorf("no entry %s (have %v)", w.ID, keys(got))
			continue
		}
		if e.Kind != w.Kind || e.Name != w.Name || e.NPI != w.NPI || e.ParentID != w.ParentID || !sameEndpoints(e, &w) {
			t.Errorf("entry %s = %+v direct %+v fhir %+v\nwant %+v direct %+v fhir %+v", w.ID, e, e.Direct, e.FHIR, w, w.Direct, w.FHIR)
		}
	}
	// The id with characters the directory refuses is mended, not dropped.
	var mended *gateway.Entry
	for id, e := range got {
		if strings.HasPrefix(id, "Org-With-Spaces-") {
			mended = e
		}
	}
	if mended == nil || mended.Name != "Willow Street Physical Therapy" {
		t.Errorf("no mended entry for id %q in %v", "Org_With Spaces", keys(got))
	}
	if len(got) != len(want)+1 {
		t.Errorf("entries = %v, want %d", keys(got), len(want)+1)
	}

	// Parents come before their children.
	pos := map[string]int{}
	for i, it := range items {
		if it.Entry != nil {
			pos[it.Entry.ID] = i
		}
	}
	for id, e := range got {
		if e.ParentID != "" && pos[e.ParentID] > pos[id] {
			t.Errorf("%s comes before its parent %s", id, e.ParentID)
		}
	}

	wantSkipped := []struct {
		row          int
		field, cause string
	}{
		{11, "HealthcareService", "not imported"},
		{3, "Location/loc-main.endpoint[0]", `"ihe-xcpd" is not imported`},
		{9, "PractitionerRole/role-ghost.organization", `unknown reference "Organization/does-not-exist"`},
	}
	skipped := skippedRows(items)
	if len(skipped) != len(wantSkipped) {
		t.Fatalf("skipped = %v, want %d", skipped, len(wantSkipped))
	}
	for _, w := range wantSkipped {
		found := false
		for _, s := range skipped {
			if s.Row == w.row && s.Field == w.field && strings.Contains(s.Reason, w.cause) {
				found = true
			}
		}
		if !found {
			t.Errorf("no skipped row %d %s %q in %v", w.row, w.field, w.cause, skipped)
		}
	}
}

func keys(m map[string]*gateway.Entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// bundle wraps resources (JSON objects) in a collection Bundle.
func bundle(resources ...string) string {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"collection","entry":[`)
	for i, r := range resources {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"resource":` + r + `}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestFHIRBundleCases(t *testing.T) {
	tests := []struct {
		name        string
		input       string
		wantIDs     []string // entries in yield order
		wantSkipped []string // "row:field"
	}{
		{name: "empty bundle", input: bundle()},
		{name: "cycle of parents is skipped",
			input: bundle(`{"resourceType":"Organization","id":"a","name":"A","partOf":{"reference":"Organization/b"}}`,
				`{"resourceType":"Organization","id":"b","name":"B","partOf":{"reference":"Organization/a"}}`),
			wantSkipped: []string{"2:parent", "1:parent"}},
		{name: "grandchild first still ordered",
			input: bundle(`{"resourceType":"Location","id":"c","name":"C","managingOrganization":{"reference":"Organization/b"}}`,
				`{"resourceType":"Organization","id":"b","name":"B","partOf":{"reference":"Organization/a"}}`,
				`{"resourceType":"Organization","id":"a","name":"A"}`),
			wantIDs: []string{"a", "b", "c"}},
		{name: "same id on two resource types",
			input: bundle(`{"resourceType":"Organization","id":"x1","name":"Org"}`,
				`{"resourceType":"Location","id":"x1","name":"Loc","managingOrganization":{"reference":"Organization/x1"}}`),
			wantIDs: []string{"x1", "location-x1"}},
		{name: "reference of the wrong type",
			input: bundle(`{"resourceType":"Endpoint","id":"e1","connectionType":{"code":"direct-project"},"address":"a@direct.example.org"}`,
				`{"resourceType":"Organization","id":"o1","name":"O","partOf":{"reference":"Endpoint/e1"}}`),
			wantSkipped: []string{"2:Organization/o1.partOf"}},
		{name: "role without practitioner",
			input:       bundle(`{"resourceType":"PractitionerRole","id":"r1"}`),
			wantSkipped: []string{"1:PractitionerRole/r1.practitioner"}},
		{name: "role with an unknown Practitioner",
			input:       bundle(`{"resourceType":"PractitionerRole","id":"r1","practitioner":{"reference":"Practitioner/nope"}}`),
			wantSkipped: []string{"1:PractitionerRole/r1.practitioner"}},
		{name: "role named by display and NPI identifier",
			input:   bundle(`{"resourceType":"PractitionerRole","id":"r1","practitioner":{"display":"Dr. Test","identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"9990000066"}}}`),
			wantIDs: []string{"r1"}},
		{name: "unknown endpoint skips the entry",
			input:       bundle(`{"resourceType":"Organization","id":"o1","name":"O","endpoint":[{"reference":"Endpoint/gone"}]}`),
			wantSkipped: []string{"1:Organization/o1.endpoint[0]"}},
		{name: "inactive organization",
			input:       bundle(`{"resourceType":"Organization","id":"o1","name":"O","active":false}`),
			wantSkipped: []string{"1:Organization/o1.active"}},
		{name: "R5 style connectionType and a malformed Direct address",
			input: bundle(`{"resourceType":"Endpoint","id":"e1","status":"active","connectionType":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"direct-project"}]}],"address":"mailto:not an address"}`,
				`{"resourceType":"Organization","id":"o1","name":"O","endpoint":[{"reference":"Endpoint/e1"}]}`),
			wantIDs: []string{"o1"}, wantSkipped: []string{"2:Organization/o1.endpoint[0]"}},
		{name: "endpoint that is switched off",
			input: bundle(`{"resourceType":"Endpoint","id":"e1","status":"off","connectionType":{"code":"hl7-fhir-rest"},"address":"https://fhir.example.org"}`,
				`{"resourceType":"Organization","id":"o1","name":"O","endpoint":[{"reference":"Endpoint/e1"}]}`),
			wantIDs: []string{"o1"}, wantSkipped: []string{"2:Organization/o1.endpoint[0]"}},
		{name: "entry that is not a resource",
			input:       `{"resourceType":"Bundle","type":"collection","entry":[{"resource":42}]}`,
			wantSkipped: []string{"1:resource"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := dirimport.FHIRBundle(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			var ids, skipped []string
			for _, it := range collect(t, rows) {
				if it.Entry != nil {
					ids = append(ids, it.Entry.ID)
				}
				for _, s := range it.Skipped {
					skipped = append(skipped, itoa(s.Row)+":"+s.Field)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Errorf("entries = %v, want %v", ids, tt.wantIDs)
			}
			if strings.Join(skipped, ",") != strings.Join(tt.wantSkipped, ",") {
				t.Errorf("skipped = %v, want %v", skipped, tt.wantSkipped)
			}
		})
	}
}

func TestFHIRBundleFatal(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"not JSON", "<Bundle/>", "decode"},
		{"not a Bundle", `{"resourceType":"Patient","id":"p1"}`, `"Patient", not Bundle`},
		{"truncated", `{"resourceType":"Bundle","entry":[`, "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dirimport.FHIRBundle(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
