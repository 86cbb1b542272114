package push

import (
	"strings"
	"testing"
)

// FuzzTaskLocation feeds arbitrary receiver answers to the parser of
// transaction-responses: it must not panic, and an id it returns is never
// empty and never contains a slash.
func FuzzTaskLocation(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201"}},{"response":{"status":"201","location":"Task/abc/_history/1"}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction-response","entry":[{},{"resource":{"resourceType":"Task","id":"t1"}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction-response","entry":[{},{"response":{"location":"https://ehr.example.org/fhir/Task/"}}]}`))
	f.Add([]byte(`{"resourceType":"OperationOutcome"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := taskLocation(body)
		if err == nil && (id == "" || strings.Contains(id, "/")) {
			t.Fatalf("taskLocation returned %q", id)
		}
		_ = issueCodes(body)
	})
}
