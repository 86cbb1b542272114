package api

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzApplyPatch feeds arbitrary JSON Patch documents (client input) to
// the patcher: it must not panic, and a patch that applies yields JSON.
func FuzzApplyPatch(f *testing.F) {
	doc := []byte(`{"resourceType":"Task","status":"requested","note":[{"id":"question","text":"q"}],"a":{"b~c":{"d/e":1}}}`)
	for _, p := range []string{
		`[{"op":"replace","path":"/status","value":"accepted"}]`,
		`[{"op":"add","path":"/note/-","value":{"text":"x"}},{"op":"remove","path":"/note/0"}]`,
		`[{"op":"test","path":"/a/b~0c/d~1e","value":1},{"op":"move","from":"/a","path":"/z"}]`,
		`[{"op":"copy","from":"/note","path":"/note/0"}]`,
		`[{"op":"add","path":"","value":[]}]`,
		`[{"op":"remove","path":"/note/01"}]`,
	} {
		f.Add(doc, []byte(p))
	}
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		out, err := applyPatch(doc, patch)
		if err == nil && !json.Valid(out) {
			t.Fatalf("patch produced invalid JSON: %s", out)
		}
	})
}

// FuzzSearchParams feeds arbitrary query strings to the Task search
// parser: it must not panic, and a parsed search stays within MaxCount.
func FuzzSearchParams(f *testing.F) {
	for _, q := range []string{"_count=2&status=draft,requested", "_lastUpdated=ge2026-03-02&_lastUpdated=lt2026-03-03T10:00:00Z",
		"patient=urn:x|MRN-1&_include=Task:focus", "owner=Organization/o&_cursor=abc", "_lastUpdated=sa2026"} {
		f.Add(q)
	}
	h := &Handler{cfg: Config{}}
	h.cfg.fill()
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "/fhir/Task", nil)
		s, err := h.parseSearch(r, v)
		if err == nil && (s.count < 1 || s.count > h.cfg.MaxCount) {
			t.Fatalf("page size %d out of bounds", s.count)
		}
	})
}
