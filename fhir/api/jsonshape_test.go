package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCheckJSONShape(t *testing.T) {
	for _, c := range []struct {
		name, body, expr, diag string // diag: "" = accepted
	}{
		{"resource", `{"resourceType":"Task","status":"requested","input":[{"type":{"text":"a"}}]}`, "", ""},
		{"null aligns a primitive array", `{"resourceType":"Patient","name":[{"given":["Ann",null],"_given":[null,{"id":"g2"}]}]}`, "", ""},
		{"null property", `{"resourceType":"Task","status":null}`, "Task.status", "is null"},
		{"nested null property", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Task","owner":{"reference":null}}}]}`, "Bundle.entry[0].resource.owner.reference", "is null"},
		{"duplicate property", `{"resourceType":"Task","status":"draft","status":"requested"}`, "Task.status", "more than once"},
		{"duplicate in an array item", `{"resourceType":"Task","input":[{},{"type":{},"type":{}}]}`, "Task.input[1].type", "more than once"},
		{"same name in sibling objects", `{"resourceType":"Task","focus":{"reference":"a"},"owner":{"reference":"b"}}`, "", ""},
		{"resourceType not first", `{"status":null,"resourceType":"Task"}`, "Task.status", "is null"},
		{"body null", `null`, "", "is null"},
		{"two values", `{"resourceType":"Task"} {"resourceType":"Task"}`, "", "more than one"},
		{"trailing garbage", `{"resourceType":"Task"}x`, "", "more than one"},
		{"truncated", `{"resourceType":"Task","input":[`, "", "well-formed"},
		{"not JSON", `resourceType=Task`, "", "well-formed"},
		{"empty", `  `, "", "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkJSONShape([]byte(c.body))
			if c.diag == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest || ae.issue.Code != "structure" || !strings.Contains(ae.issue.Diagnostics, c.diag) {
				t.Fatalf("got %v; want a 400 structure issue saying %q", err, c.diag)
			}
			if got := strings.Join(ae.issue.Expression, ","); got != c.expr {
				t.Fatalf("expression %q, want %q", got, c.expr)
			}
		})
	}
}

// FuzzJSONShape: the check never panics, and refuses whatever is not a
// single well-formed JSON value.
func FuzzJSONShape(f *testing.F) {
	for _, s := range []string{`{"resourceType":"Task","status":"draft"}`, `{"a":[null,{"b":1}]}`, `{"a":1,"a":2}`, `[`, `{}{}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := checkJSONShape(body)
		if err == nil && !json.Valid(body) {
			t.Fatalf("accepted malformed JSON %q", body)
		}
	})
}
