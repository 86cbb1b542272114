package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestUpdateRefusesWhatItWouldDrop checks that an update changing an
// element the gateway does not apply is refused with 422 naming the
// element, that nothing changes, and that PUT without id is a 400.
func TestUpdateRefusesWhatItWouldDrop(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "U-1", "requested")
	version := func() string {
		var tk task
		e.do(t, e.token(t, "ehr-ortho"), "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &tk)
		return tk.Meta.VersionID
	}
	before := version()
	tests := []struct {
		name string
		edit func(map[string]any)
		want string // the element the OperationOutcome names
	}{
		{"priority", func(d map[string]any) { d["priority"] = "stat" }, "Task.priority"},
		{"owner", func(d map[string]any) { d["owner"] = map[string]any{"reference": "Organization/org-other"} }, "Task.owner"},
		{"description", func(d map[string]any) { d["description"] = "please call first" }, "Task.description"},
		{"removed requester", func(d map[string]any) { delete(d, "requester") }, "Task.requester"},
		{"primitive extension", func(d map[string]any) {
			d["_status"] = map[string]any{"extension": []any{map[string]any{"url": "urn:x", "valueString": "y"}}}
		}, "Task.status"},
		{"meta tag", func(d map[string]any) {
			d["meta"].(map[string]any)["tag"] = []any{map[string]any{"code": "x"}}
		}, "Task.meta.tag"},
		{"note time", func(d map[string]any) {
			d["note"] = []any{map[string]any{"text": "call me", "time": "2026-03-02T09:00:00Z"}}
		}, "Task.note[0].time"},
		{"other output", func(d map[string]any) {
			d["output"] = []any{map[string]any{"type": map[string]any{"text": "invoice"}, "valueString": "x"}}
		}, "Task.output[0].type"},
		{"accepted and priority", func(d map[string]any) { d["status"] = "accepted"; d["priority"] = "urgent" }, "Task.priority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.putStatus(t, "ehr-ortho", id, tt.edit).want(t, http.StatusUnprocessableEntity)
			var oo OperationOutcome
			res.decode(t, &oo)
			found := false
			for _, is := range oo.Issue {
				found = found || (len(is.Expression) == 1 && is.Expression[0] == tt.want)
			}
			if !found {
				t.Errorf("OperationOutcome does not name %s: %s", tt.want, res.body)
			}
		})
	}
	if got := version(); got != before {
		t.Fatalf("a refused update changed the Task: version %s → %s", before, got)
	}

	t.Run("PATCH of priority", func(t *testing.T) {
		patch := []byte(`[{"op":"replace","path":"/priority","value":"stat"}]`)
		e.do(t, e.token(t, "ehr-ortho"), "PATCH", "/fhir/Task/"+id, patch, "Content-Type", "application/json-patch+json").
			want(t, http.StatusUnprocessableEntity)
	})
	t.Run("PUT without id", func(t *testing.T) {
		res := e.putStatus(t, "ehr-ortho", id, func(d map[string]any) { delete(d, "id"); d["status"] = "accepted" }).want(t, http.StatusBadRequest)
		if !strings.Contains(string(res.body), "Task.id") {
			t.Errorf("400 does not name Task.id: %s", res.body)
		}
	})
	t.Run("completing without the consult note says what is needed", func(t *testing.T) {
		e.putStatus(t, "ehr-ortho", id, setStatus("accepted", nil)).want(t, http.StatusOK)
		e.putStatus(t, "ehr-ortho", id, setStatus("in-progress", nil)).want(t, http.StatusOK)
		res := e.putStatus(t, "ehr-ortho", id, setStatus("completed", nil)).want(t, http.StatusUnprocessableEntity)
		if !strings.Contains(string(res.body), "11488-4") || !strings.Contains(string(res.body), "Task.output") {
			t.Errorf("completion refusal does not say what is needed: %s", res.body)
		}
		// The LOINC-typed consult note (BSeR/360X convention) completes it.
		res = e.putStatus(t, "ehr-ortho", id, setStatus("completed", map[string]any{"output": []any{map[string]any{
			"type":           map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "11488-4"}}},
			"valueReference": map[string]any{"reference": "DocumentReference/note-1"},
		}}})).want(t, http.StatusOK)
		var done map[string]any
		res.decode(t, &done)
		b, _ := json.Marshal(done["output"])
		if done["status"] != "completed" || !strings.Contains(string(b), "DocumentReference/note-1") || !strings.Contains(string(b), "11488-4") {
			t.Errorf("completed Task: %s", res.body)
		}
		// Reading and putting back the completed Task unchanged is accepted.
		e.putStatus(t, "ehr-ortho", id, func(map[string]any) {}).want(t, http.StatusOK)
	})
}

// TestUpdateDoesNotCreate: R4 update has a server that does not create
// resources by update answer 405 for an id that did not exist, and its
// CapabilityStatement say updateCreate false for every type it updates.
// Another organisation's resource is answered the same as a missing one,
// so its ids do not leak; the 405 names the methods the URL does serve.
func TestUpdateDoesNotCreate(t *testing.T) {
	e := newEnv(t)
	id := e.createReferral(t, "UC-1", "requested")
	sub := e.subscribe(t, "ehr-north", subscriptionBody("off", "Task?requester=org-north", "https://ehr.example.org/hook", ""))
	taskBody := func(id string) []byte {
		return []byte(`{"resourceType":"Task","id":"` + id + `","status":"cancelled","intent":"order","statusReason":{"text":"x"}}`)
	}
	subBody := func(id string) []byte {
		var doc map[string]any
		if err := json.Unmarshal(subscriptionBody("off", "Task?requester=org-other", "https://ehr.example.org/hook", ""), &doc); err != nil {
			t.Fatal(err)
		}
		doc["id"] = id
		b, _ := json.Marshal(doc)
		return b
	}
	tests := []struct {
		name, client, path string
		body               []byte
		allow              string
	}{
		{"Task never created", "ehr-north", "/fhir/Task/no-such-task", taskBody("no-such-task"), "GET, HEAD, PATCH"},
		{"another organisation's Task", "ehr-other", "/fhir/Task/" + id, taskBody(id), "GET, HEAD, PATCH"},
		{"Subscription never created", "ehr-other", "/fhir/Subscription/no-such-sub", subBody("no-such-sub"), "DELETE, GET, HEAD"},
		{"another organisation's Subscription", "ehr-other", "/fhir/Subscription/" + sub.ID, subBody(sub.ID), "DELETE, GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, e.token(t, tt.client), "PUT", tt.path, tt.body).want(t, http.StatusMethodNotAllowed)
			var oo OperationOutcome
			res.decode(t, &oo)
			if oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 || oo.Issue[0].Code != "not-supported" {
				t.Errorf("outcome %s", res.body)
			}
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
	// Nothing was created, and what exists is unchanged.
	e.do(t, e.token(t, "ehr-north"), "GET", "/fhir/Task/no-such-task", nil).want(t, http.StatusNotFound)
	e.do(t, e.token(t, "ehr-other"), "GET", "/fhir/Subscription/no-such-sub", nil).want(t, http.StatusNotFound)
	var tk task
	e.do(t, e.token(t, "ehr-north"), "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &tk)
	if tk.Status != "requested" {
		t.Errorf("the refused update changed the Task to %s", tk.Status)
	}
	// PATCH has no create form: a missing id stays 404.
	e.do(t, e.token(t, "ehr-north"), "PATCH", "/fhir/Task/no-such-task", []byte(`[]`), "Content-Type", "application/json-patch+json").
		want(t, http.StatusNotFound)

	var cs struct {
		Rest []struct {
			Resource []struct {
				Type         string
				Interaction  []struct{ Code string }
				UpdateCreate *bool
			}
		}
	}
	e.do(t, "", "GET", "/fhir/metadata", nil).want(t, http.StatusOK).decode(t, &cs)
	updated := 0
	for _, r := range cs.Rest[0].Resource {
		for _, in := range r.Interaction {
			if in.Code != "update" {
				continue
			}
			updated++
			if r.UpdateCreate == nil || *r.UpdateCreate {
				t.Errorf("%s declares update but not updateCreate false", r.Type)
			}
		}
	}
	if updated == 0 {
		t.Error("the CapabilityStatement declares no update")
	}
}
