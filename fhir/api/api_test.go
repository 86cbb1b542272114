package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

func TestMetadataIsPublicAndValid(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, "", "GET", "/fhir/metadata", nil).want(t, http.StatusOK)
	var cs struct {
		FHIRVersion string `json:"fhirVersion"`
		Rest        []struct {
			Resource []struct {
				Type              string `json:"type"`
				ConditionalCreate bool   `json:"conditionalCreate"`
				SearchParam       []struct{ Name string }
			}
		}
	}
	res.decode(t, &cs)
	if cs.FHIRVersion != "4.0.1" || len(cs.Rest) != 1 || cs.Rest[0].Resource[0].Type != "Task" || !cs.Rest[0].Resource[0].ConditionalCreate {
		t.Errorf("capability statement: %s", res.body)
	}
	// Every advertised search parameter is one the handler accepts.
	for _, p := range cs.Rest[0].Resource[0].SearchParam {
		if !slices.Contains(searchParams, p.Name) {
			t.Errorf("advertised search parameter %s is not implemented", p.Name)
		}
	}
	for _, path := range []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"} {
		e.do(t, "", "GET", path, nil).want(t, http.StatusOK)
	}
}

func TestCreateReadAndConditionalCreate(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "ehr-north")
	id := e.createReferral(t, "REF-1", "requested")

	res := e.do(t, tok, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK)
	var got task
	res.decode(t, &got)
	if got.Status != "requested" || res.header.Get("ETag") != `W/"`+got.Meta.VersionID+`"` {
		t.Errorf("Task status %s, ETag %q, versionId %s", got.Status, res.header.Get("ETag"), got.Meta.VersionID)
	}
	e.do(t, tok, "GET", "/fhir/ServiceRequest/"+id, nil).want(t, http.StatusOK)
	e.do(t, tok, "GET", "/fhir/Task/"+id, nil, "If-None-Match", res.header.Get("ETag")).want(t, http.StatusNotModified)

	t.Run("retried transaction returns the same referral", func(t *testing.T) {
		again := e.do(t, tok, "POST", "/fhir", transaction("REF-1", "requested")).want(t, http.StatusOK)
		var b struct {
			Type  string
			Entry []struct {
				Response struct{ Status, Location string }
			}
		}
		again.decode(t, &b)
		if b.Type != "transaction-response" || b.Entry[0].Response.Status != "200 OK" || !strings.HasPrefix(b.Entry[0].Response.Location, "Task/"+id+"/") {
			t.Errorf("retry answered %s", again.body)
		}
		list, err := e.svc.ListReferrals(context.Background(), gateway.ReferralQuery{RequesterOrg: orgNorth})
		if err != nil || len(list) != 1 {
			t.Errorf("%d referrals after a retried create (err %v), want 1", len(list), err)
		}
	})
	t.Run("POST Task with If-None-Exist", func(t *testing.T) {
		body := containedTask("REF-2", "draft")
		first := e.do(t, tok, "POST", "/fhir/Task", body, "If-None-Exist", "identifier=https://north.example.org/referrals|REF-2").want(t, http.StatusCreated)
		var a, b task
		first.decode(t, &a)
		if a.Status != "draft" || first.header.Get("Location") == "" {
			t.Errorf("created %s, Location %q", first.body, first.header.Get("Location"))
		}
		second := e.do(t, tok, "POST", "/fhir/Task", body, "If-None-Exist", "identifier=https://north.example.org/referrals|REF-2").want(t, http.StatusOK)
		second.decode(t, &b)
		if a.ID != b.ID {
			t.Errorf("conditional create made a second referral: %s and %s", a.ID, b.ID)
		}
		// Without If-None-Exist the duplicate identifier is a conflict.
		e.do(t, tok, "POST", "/fhir/Task", body).want(t, http.StatusConflict)
	})
	t.Run("a submit refused by a gate leaves a draft that says why", func(t *testing.T) {
		body := strings.ReplaceAll(string(transaction("REF-3", "requested")), "Organization/org-ortho", "Organization/org-other")
		res := e.do(t, tok, "POST", "/fhir", []byte(body)).want(t, http.StatusOK)
		var b struct {
			Entry []struct{ Response struct{ Location string } }
		}
		res.decode(t, &b)
		var got task
		e.do(t, tok, "GET", "/fhir/"+strings.Join(strings.Split(b.Entry[0].Response.Location, "/")[:2], "/"), nil).want(t, http.StatusOK).decode(t, &got)
		if got.Status != "draft" || len(got.Note) == 0 || got.Note[0].ID != "blocked" {
			t.Errorf("refused submit: %+v", got)
		}
	})
}

// containedTask is a Task carrying its ServiceRequest and Patient contained.
func containedTask(identifier, status string) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Task","status":%q,"intent":"order",
 "identifier":[{"system":"https://north.example.org/referrals","value":%q}],
 "contained":[
  {"resourceType":"ServiceRequest","id":"sr","status":"draft","intent":"order","subject":{"reference":"#pat"},
   "reasonCode":[{"coding":[{"system":"http://snomed.info/sct","code":"239873007"}]}]},
  {"resourceType":"Patient","id":"pat","identifier":[{"value":"MRN-%s"}]}],
 "focus":{"reference":"#sr"},"owner":{"reference":"Organization/org-ortho"}}`, status, identifier, identifier))
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "ehr-north")
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		code, expression   string
	}{
		{"malformed JSON", "POST", "/fhir", []byte(`{"resourceType":"Bundle",`), 400, "structure", ""},
		{"null element", "POST", "/fhir", []byte(strings.Replace(string(transaction("X", "requested")), `"intent":"order",`, `"intent":"order","note":null,`, 1)), 400, "structure", "Bundle.entry[0].resource.note"},
		{"repeated element", "POST", "/fhir", []byte(strings.Replace(string(transaction("X", "requested")), `"intent":"order",`, `"intent":"order","status":"draft",`, 1)), 400, "structure", "Bundle.entry[0].resource.status"},
		{"empty body", "POST", "/fhir", []byte(" "), 400, "structure", ""},
		{"missing Task status", "POST", "/fhir", []byte(strings.Replace(string(transaction("X", "requested")), `"status":"requested",`, "", 1)), 400, "required", "Bundle.entry[0].resource.status"},
		{"requester is another organisation", "POST", "/fhir", []byte(strings.ReplaceAll(string(transaction("X", "requested")), "Organization/org-north", "Organization/org-other")), 403, "forbidden", ""},
		{"unknown receiver", "POST", "/fhir", []byte(strings.ReplaceAll(string(transaction("X", "requested")), "org-ortho", "org-nowhere")), 422, "invalid", "Task.owner"},
		{"unknown resource type", "GET", "/fhir/Observation/1", nil, 404, "not-supported", ""},
		{"delete is not supported", "DELETE", "/fhir/Task/x", nil, 405, "not-supported", ""},
		{"unknown referral", "GET", "/fhir/Task/nope", nil, 404, "not-found", ""},
		{"unknown search parameter, strict", "GET", "/fhir/Task?color=red", nil, 400, "not-supported", "color"},
		{"bad _lastUpdated", "GET", "/fhir/Task?_lastUpdated=yesterday", nil, 400, "value", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, tok, tt.method, tt.path, tt.body, "Prefer", "handling=strict").want(t, tt.status)
			var oo OperationOutcome
			res.decode(t, &oo)
			if len(oo.Issue) == 0 || oo.Issue[0].Code != tt.code {
				t.Fatalf("outcome %s, want code %s", res.body, tt.code)
			}
			if tt.expression != "" && !slices.Contains(oo.Issue[0].Expression, tt.expression) {
				t.Errorf("expression %v, want %s", oo.Issue[0].Expression, tt.expression)
			}
		})
	}
}

func TestSearchPagingFiltersAndInclude(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 5 {
		status := "requested"
		if i == 4 {
			status = "draft"
		}
		ids = append(ids, e.createReferral(t, fmt.Sprintf("S-%d", i), status))
		e.clock.Advance(time.Hour)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tok := e.token(t, "ehr-north")

	// Follow next links with _count=2: every referral exactly once, in id order.
	var seen []string
	next := "/fhir/Task?_count=2"
	pages := 0
	for next != "" {
		pages++
		var b searchBundle
		e.do(t, tok, "GET", next, nil).want(t, http.StatusOK).decode(t, &b)
		next = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				next = l.URL
			}
		}
		for _, en := range b.Entry {
			seen = append(seen, en.Resource.ID)
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(seen, ids) || pages != 3 {
		t.Errorf("paged %v in %d pages, want %v in 3", seen, pages, ids)
	}

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"status", "status=draft", ids[4:]},
		{"two statuses", "status=draft,requested", ids},
		{"owner", "owner=Organization/org-ortho", ids},
		{"requester", "requester=Organization/org-other", nil},
		{"patient", "patient=MRN-S-2", ids[2:3]},
		{"focus", "focus=ServiceRequest/" + ids[1], ids[1:2]},
		{"identifier", "identifier=https://north.example.org/referrals|S-3", ids[3:4]},
		{"unknown identifier", "identifier=https://north.example.org/referrals|S-99", nil},
		{"_id and focus disagree", "_id=" + ids[0] + "&focus=ServiceRequest/" + ids[1], nil},
		{"lastUpdated ge", "_lastUpdated=ge" + start.Add(3*time.Hour).Format(time.RFC3339), ids[3:]},
		{"lastUpdated gt and lt", "_lastUpdated=gt" + start.Format(time.RFC3339) + "&_lastUpdated=lt" + start.Add(2*time.Hour).Format(time.RFC3339), ids[1:2]},
		{"lastUpdated day", "_lastUpdated=2026-03-02", ids},
		{"lastUpdated le day before", "_lastUpdated=le2026-03-01", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b searchBundle
			e.do(t, tok, "GET", "/fhir/Task?"+tt.query, nil).want(t, http.StatusOK).decode(t, &b)
			var got []string
			for _, en := range b.Entry {
				got = append(got, en.Resource.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	t.Run("include focus", func(t *testing.T) {
		var b searchBundle
		e.do(t, tok, "GET", "/fhir/Task?_id="+ids[0]+"&_include=Task:focus", nil).want(t, http.StatusOK).decode(t, &b)
		if len(b.Entry) != 2 || b.Entry[1].Resource.ResourceType != "ServiceRequest" || b.Entry[1].Search.Mode != "include" {
			t.Errorf("entries %+v", b.Entry)
		}
	})
	t.Run("another tenant sees nothing", func(t *testing.T) {
		var b searchBundle
		e.do(t, e.token(t, "ehr-other"), "GET", "/fhir/Task", nil).want(t, http.StatusOK).decode(t, &b)
		if len(b.Entry) != 0 {
			t.Errorf("org-other sees %d referrals of others", len(b.Entry))
		}
	})
	t.Run("the receiver sees what was sent to it", func(t *testing.T) {
		var b searchBundle
		e.do(t, e.token(t, "ehr-ortho"), "GET", "/fhir/Task?_count=50", nil).want(t, http.StatusOK).decode(t, &b)
		if len(b.Entry) != 5 {
			t.Errorf("receiver sees %d referrals, want 5", len(b.Entry))
		}
	})
}

type searchBundle struct {
	Link []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		} `json:"resource"`
		Search struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

// putStatus reads the Task, applies edit and PUTs it back as client.
func (e *env) putStatus(t *testing.T, client, id string, edit func(map[string]any), hdr ...string) *response {
	t.Helper()
	tok := e.token(t, client)
	var doc map[string]any
	e.do(t, tok, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &doc)
	edit(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return e.do(t, tok, "PUT", "/fhir/Task/"+id, b, hdr...)
}

func setStatus(status string, extra map[string]any) func(map[string]any) {
	return func(doc map[string]any) {
		doc["status"] = status
		for k, v := range extra {
			doc[k] = v
		}
	}
}

func TestTaskTransitions(t *testing.T) {
	e := newEnv(t)
	type step struct {
		client string
		edit   func(map[string]any)
		status int
		want   string // Task.status afterwards
	}
	note := func(id, text string) []any { return []any{map[string]any{"id": id, "text": text}} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"accept, start, complete with the consult note", []step{
			{"ehr-ortho", setStatus("accepted", nil), 200, "accepted"},
			{"ehr-ortho", setStatus("in-progress", map[string]any{"businessStatus": map[string]any{"text": "appointment booked"}}), 200, "in-progress"},
			{"ehr-ortho", setStatus("completed", map[string]any{"output": []any{map[string]any{
				"type":           map[string]any{"coding": []any{map[string]any{"system": "urn:referralgw:task-parameter", "code": "consult-note"}}},
				"valueReference": map[string]any{"reference": "DocumentReference/consult-1", "display": "Consult note"}}}}), 200, "completed"},
		}},
		{"receipt acknowledged by the receiver", []step{
			{"ehr-ortho", setStatus("received", nil), 200, "received"},
			{"ehr-ortho", setStatus("received", nil), 200, "received"}, // an unchanged PUT is a no-op
		}},
		{"progress without a status change", []step{
			{"ehr-ortho", setStatus("received", nil), 200, "received"},
			{"ehr-ortho", setStatus("received", map[string]any{"businessStatus": map[string]any{"text": "triaged by nurse"}}), 200, "received"},
			{"ehr-ortho", setStatus("received", map[string]any{"statusReason": map[string]any{"text": "no move"}}), 422, "received"},
		}},
		{"the referrer cannot accept its own referral", []step{
			{"ehr-north", setStatus("accepted", nil), 422, "requested"},
		}},
		{"reject with a reason", []step{
			{"ehr-ortho", setStatus("rejected", map[string]any{"statusReason": map[string]any{"text": "outside our service area"}}), 200, "rejected"},
		}},
		{"reject without a reason is refused", []step{
			{"ehr-ortho", setStatus("rejected", nil), 422, "requested"},
		}},
		{"hold with a question, answered, then accepted", []step{
			{"ehr-ortho", setStatus("on-hold", map[string]any{"note": note("question", "Any prior imaging?")}), 200, "on-hold"},
			{"ehr-north", setStatus("received", map[string]any{"note": []any{
				map[string]any{"id": "question", "text": "Any prior imaging?"}, map[string]any{"id": "answer", "text": "X-ray attached."}}}), 200, "received"},
			{"ehr-ortho", setStatus("accepted", nil), 200, "accepted"},
		}},
		{"cancelled by the referrer", []step{
			{"ehr-north", setStatus("cancelled", map[string]any{"statusReason": map[string]any{"text": "patient moved"}}), 200, "cancelled"},
		}},
		{"the receiver cannot cancel", []step{
			{"ehr-ortho", setStatus("cancelled", map[string]any{"statusReason": map[string]any{"text": "no"}}), 422, "requested"},
		}},
		{"completing before accepting names the rule", []step{
			{"ehr-ortho", setStatus("completed", map[string]any{"output": []any{map[string]any{
				"type":        map[string]any{"coding": []any{map[string]any{"system": "urn:referralgw:task-parameter", "code": "consult-note"}}},
				"valueString": "seen"}}}), 422, "requested"},
		}},
		{"ready is not a referral state", []step{
			{"ehr-ortho", setStatus("ready", nil), 400, "requested"},
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.createReferral(t, fmt.Sprintf("T-%d", i), "requested")
			for j, s := range tt.steps {
				res := e.putStatus(t, s.client, id, s.edit)
				if res.status != s.status {
					t.Fatalf("step %d: status %d, want %d: %s", j, res.status, s.status, res.body)
				}
				if s.status == 422 {
					var oo OperationOutcome
					res.decode(t, &oo)
					if len(oo.Issue) == 0 || oo.Issue[0].Diagnostics == "" {
						t.Errorf("step %d: refusal without a reason: %s", j, res.body)
					}
				}
				var got task
				e.do(t, e.token(t, "ehr-north"), "GET", "/fhir/Task/"+id, nil).want(t, 200).decode(t, &got)
				if got.Status != s.want {
					t.Fatalf("step %d: Task is %s, want %s", j, got.Status, s.want)
				}
				if s.want == "completed" && (len(got.Output) == 0 || got.Output[0].ValueReference == nil ||
					got.Output[0].ValueReference.Reference != "DocumentReference/consult-1") {
					t.Errorf("completed Task output %+v", got.Output)
				}
			}
		})
	}
	t.Run("illegal transition outcome names the rule and Task.status", func(t *testing.T) {
		id := e.createReferral(t, "T-rule", "requested")
		res := e.putStatus(t, "ehr-ortho", id, setStatus("in-progress", nil)).want(t, 422)
		var oo OperationOutcome
		res.decode(t, &oo)
		if oo.Issue[0].Code != "business-rule" || !slices.Contains(oo.Issue[0].Expression, "Task.status") || !strings.Contains(oo.Issue[0].Diagnostics, "reached only from") {
			t.Errorf("outcome %s", res.body)
		}
	})
	t.Run("draft submitted by PUT runs the gates", func(t *testing.T) {
		id := e.createReferral(t, "T-draft", "draft")
		e.putStatus(t, "ehr-north", id, setStatus("requested", nil)).want(t, 200)
		r, ds, err := e.svc.Referral(context.Background(), id)
		if err != nil || r.Status != gateway.StatusRequested || len(ds) != 1 {
			t.Errorf("after submit: %v, %d deliveries, err %v", r.Status, len(ds), err)
		}
	})
}

func TestPatchAndIfMatch(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "P-1", "requested")
	ortho := e.token(t, "ehr-ortho")
	patch := func(body string, hdr ...string) *response {
		hdr = append(hdr, "Content-Type", "application/json-patch+json")
		return e.do(t, ortho, "PATCH", "/fhir/Task/"+id, []byte(body), hdr...)
	}
	var v task
	e.do(t, ortho, "GET", "/fhir/Task/"+id, nil).want(t, 200).decode(t, &v)

	patch(`[{"op":"replace","path":"/status","value":"accepted"}]`, "If-Match", `W/"`+v.Meta.VersionID+`"`).want(t, 200)
	// The same If-Match is now stale.
	res := patch(`[{"op":"replace","path":"/status","value":"in-progress"}]`, "If-Match", `W/"`+v.Meta.VersionID+`"`).want(t, http.StatusPreconditionFailed)
	var oo OperationOutcome
	res.decode(t, &oo)
	if oo.Issue[0].Code != "conflict" {
		t.Errorf("stale If-Match: %s", res.body)
	}
	// A stale If-Match on a PUT is refused the same way. (A stale
	// meta.versionId in the body is ignored, as R4 update requires: see
	// TestUpdateIgnoresBodyVersionID.)
	e.putStatus(t, "ehr-ortho", id, setStatus("in-progress", nil), "If-Match", `W/"`+v.Meta.VersionID+`"`).want(t, http.StatusPreconditionFailed)
	// A failed test operation applies nothing.
	patch(`[{"op":"test","path":"/status","value":"requested"},{"op":"replace","path":"/status","value":"in-progress"}]`).want(t, 422)
	patch(`[{"op":"replace","path":"/nope/x","value":1}]`).want(t, 400)
	e.do(t, ortho, "PATCH", "/fhir/Task/"+id, []byte(`[]`), "Content-Type", "application/fhir+json").want(t, http.StatusUnsupportedMediaType)
	patch(`[{"op":"replace","path":"/status","value":"in-progress"}]`).want(t, 200)

	t.Run("history and vread", func(t *testing.T) {
		var h struct {
			Type  string
			Entry []struct {
				Resource task
				Response struct{ Etag string }
			}
		}
		e.do(t, ortho, "GET", "/fhir/Task/"+id+"/_history", nil).want(t, 200).decode(t, &h)
		if h.Type != "history" || len(h.Entry) < 3 || h.Entry[0].Resource.Status != "in-progress" || h.Entry[len(h.Entry)-1].Resource.Meta.VersionID != "1" {
			t.Fatalf("history %+v", h)
		}
		var first task
		e.do(t, ortho, "GET", "/fhir/Task/"+id+"/_history/1", nil).want(t, 200).decode(t, &first)
		if first.Status != "draft" || first.Meta.VersionID != "1" {
			t.Errorf("version 1 is %s/%s", first.Status, first.Meta.VersionID)
		}
		e.do(t, ortho, "GET", "/fhir/Task/"+id+"/_history/99", nil).want(t, 404)
	})
}

func TestCrossTenantIsNotFound(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "X-1", "requested")
	other := e.token(t, "ehr-other")
	// Each is answered as for an id that does not exist: 404, and for a
	// PUT 405 (no update-as-create).
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/fhir/Task/" + id, http.StatusNotFound},
		{"GET", "/fhir/ServiceRequest/" + id, http.StatusNotFound},
		{"GET", "/fhir/Task/" + id + "/_history", http.StatusNotFound},
		{"GET", "/fhir/Task/" + id + "/_history/1", http.StatusNotFound},
		{"PUT", "/fhir/Task/" + id, http.StatusMethodNotAllowed},
	} {
		var body []byte
		if tc.method == "PUT" {
			body = []byte(`{"resourceType":"Task","id":"` + id + `","status":"cancelled","intent":"order","statusReason":{"text":"x"}}`)
		}
		res := e.do(t, other, tc.method, tc.path, body).want(t, tc.status)
		missing := e.do(t, other, tc.method, strings.Replace(tc.path, id, "no-such-id", 1), bytes.ReplaceAll(body, []byte(id), []byte("no-such-id")))
		if missing.status != res.status || !bytes.Equal(bytes.ReplaceAll(missing.body, []byte("no-such-id"), []byte(id)), res.body) {
			t.Errorf("%s %s: another tenant's id answers %d %s, a missing one %d %s", tc.method, tc.path, res.status, res.body, missing.status, missing.body)
		}
		if strings.Contains(string(res.body), orgNorth) {
			t.Errorf("%s %s leaks the owning org: %s", tc.method, tc.path, res.body)
		}
	}
	if !slices.Contains(e.auditActions(t, orgOther), "fhir.read/"+audit.OutcomeRefused) {
		t.Errorf("cross-tenant read not audited in the caller's trail: %v", e.auditActions(t, orgOther))
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "A-1", "requested")
	good := e.token(t, "ehr-north")
	tests := []struct {
		name   string
		token  func(t *testing.T) string
		method string
		status int
	}{
		{"no token", func(*testing.T) string { return "" }, "GET", 401},
		{"bad signature", func(*testing.T) string {
			parts := strings.Split(good, ".")
			sig := []byte(parts[2])
			sig[len(sig)/2] ^= 1
			return parts[0] + "." + parts[1] + "." + string(sig)
		}, "GET", 401},
		{"forged claims", func(*testing.T) string {
			parts := strings.Split(e.token(t, "ehr-other"), ".")
			g := strings.Split(good, ".")
			return g[0] + "." + parts[1] + "." + g[2]
		}, "GET", 401},
		{"wrong scope", func(t *testing.T) string { return e.token(t, "ehr-readonly") }, "PUT", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.method == "PUT" {
				body = []byte(`{"resourceType":"Task","id":"` + id + `","status":"cancelled","intent":"order","statusReason":{"text":"x"}}`)
			}
			res := e.do(t, tt.token(t), tt.method, "/fhir/Task/"+id, body).want(t, tt.status)
			if tt.status == 401 && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge")
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		tok := e.token(t, "ehr-north")
		e.do(t, tok, "GET", "/fhir/Task/"+id, nil).want(t, 200)
		e.clock.Advance(10 * time.Minute)
		e.do(t, tok, "GET", "/fhir/Task/"+id, nil).want(t, 401)
	})
	t.Run("replayed assertion", func(t *testing.T) {
		assertion, err := e.tokenSource("ehr-north").Assertion()
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Task.rs"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		post := func() int {
			res, err := e.srv.Client().PostForm(e.tokens.TokenURL(), form)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		if got := post(); got != 200 {
			t.Fatalf("first use of the assertion: %d", got)
		}
		if got := post(); got != 400 && got != 401 {
			t.Errorf("replayed assertion answered %d, want 400 or 401", got)
		}
	})
	t.Run("refusals are audited", func(t *testing.T) {
		if !slices.Contains(e.auditActions(t, "gateway"), "auth.bearer.refused/"+audit.OutcomeRefused) {
			t.Errorf("token refusal not audited: %v", e.auditActions(t, "gateway"))
		}
		if !slices.Contains(e.auditActions(t, orgNorth), "auth.scope.refused/"+audit.OutcomeRefused) {
			t.Errorf("scope refusal not audited: %v", e.auditActions(t, orgNorth))
		}
		if !slices.Contains(e.auditActions(t, orgNorth), "auth.token.granted/"+audit.OutcomeSuccess) {
			t.Errorf("token grant not audited: %v", e.auditActions(t, orgNorth))
		}
		// A refusal names a client only as the caller claimed it: it goes to
		// the gateway's own chain, never into the practice's trail.
		if err := e.svc.FlushEdges(t.Context()); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(e.auditActions(t, orgNorth), "auth.token.refused/"+audit.OutcomeRefused) ||
			!slices.Contains(e.auditActions(t, "gateway"), "auth.token.refused/"+audit.OutcomeRefused) {
			t.Errorf("token refusal: north %v, gateway %v", e.auditActions(t, orgNorth), e.auditActions(t, "gateway"))
		}
		if !slices.Contains(e.auditActions(t, orgOrtho), "fhir.transaction.create/"+audit.OutcomeSuccess) {
			t.Errorf("create not audited in the receiver's trail: %v", e.auditActions(t, orgOrtho))
		}
	})
}
