package subscription

import (
	"encoding/json"
	"testing"
)

// FuzzParse feeds arbitrary bodies (client input) to Parse and Validate:
// they must not panic, every refusal is an *Error, and an accepted
// subscription renders to a Subscription that parses and validates again
// with the same criteria and endpoint.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Subscription","status":"requested","reason":"r","criteria":"Task?owner=Organization/org-a","channel":{"type":"rest-hook","endpoint":"https://ehr.example.org/hook","payload":"application/fhir+json","header":["Authorization: Bearer x"]}}`,
		`{"resourceType":"Subscription","status":"active","reason":"r","criteria":"Task?requester=org-a","channel":{"type":"rest-hook","endpoint":"https://ehr.example.org:8443/a?b=c"}}`,
		`{"resourceType":"Subscription","status":"off","end":"2026-01-01T00:00:00.5+02:00","reason":"r","criteria":"Task?owner=%6Frg-a","channel":{"type":"rest-hook","endpoint":"https://[::1]/"}}`,
		`{"resourceType":"Subscription","status":"error","criteria":"Task?owner=org-b;x","channel":{"type":"email"}}`,
		`{"resourceType":"Subscription","channel":{"header":[1]}}`,
		`{"resourceType":"Subscription"}{`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Parse(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse error %T is not an *Error", err)
			}
			return
		}
		sp, err := Validate(res, "org-a", false)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Validate error %T is not an *Error", err)
			}
			return
		}
		s := &Subscription{ID: "s1", OrgID: "org-a"}
		s.apply(sp)
		out, err := json.Marshal(s.Resource())
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("rendered Subscription does not parse: %v\n%s", err, out)
		}
		sp2, err := Validate(again, "org-a", false)
		if err != nil {
			t.Fatalf("rendered Subscription does not validate: %v\n%s", err, out)
		}
		if sp2.Criteria != sp.Criteria || sp2.Endpoint != sp.Endpoint || sp2.Payload != sp.Payload || !sp2.End.Equal(sp.End) {
			t.Fatalf("round trip changed %+v into %+v", sp, sp2)
		}
	})
}
