package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestTaskIdentifierKeptAndRetrySafe checks that Task.identifier reads
// back as sent, that If-None-Exist on POST Task returns the Task a first
// attempt made (single Task and two-step), and that an identifier the
// referral would not keep is refused.
func TestTaskIdentifierKeptAndRetrySafe(t *testing.T) {
	e := newEnv(t)
	north := e.token(t, "ehr-north")
	ident := []string{"If-None-Exist", "identifier=https://north.example.org/referrals|ID-1"}

	// Two-step: the ServiceRequest carries the identifier, the Task repeats it.
	id := e.postServiceRequest(t, "ehr-north", "ID-1", orgOrtho)
	taskBody := strings.Replace(string(focusTask(id, "requested")), `"intent":"order",`,
		`"intent":"order","identifier":[{"system":"https://north.example.org/referrals","value":"ID-1"}],`, 1)
	var first, again struct {
		ID         string
		Status     string
		Identifier []struct{ System, Value string }
	}
	e.do(t, north, "POST", "/fhir/Task", []byte(taskBody), ident...).want(t, http.StatusCreated).decode(t, &first)
	if first.ID != id || first.Status != "requested" || len(first.Identifier) != 1 ||
		first.Identifier[0].System != "https://north.example.org/referrals" || first.Identifier[0].Value != "ID-1" {
		t.Fatalf("submitted Task %+v", first)
	}
	// The retry (say, after a lost response) gets the same Task back, 200.
	e.do(t, north, "POST", "/fhir/Task", []byte(taskBody), ident...).want(t, http.StatusOK).decode(t, &again)
	if again.ID != first.ID || again.Status != "requested" {
		t.Fatalf("retried submit %+v, want Task %s", again, first.ID)
	}
	// Without If-None-Exist the retry is refused, and the refusal says how to retry.
	res := e.do(t, north, "POST", "/fhir/Task", []byte(taskBody)).want(t, http.StatusUnprocessableEntity)
	if !strings.Contains(string(res.body), "If-None-Exist") {
		t.Errorf("refusal does not mention If-None-Exist: %s", res.body)
	}

	// A Task naming another identifier than its draft's is refused, not dropped.
	id2 := e.postServiceRequest(t, "ehr-north", "ID-2", orgOrtho)
	other := strings.Replace(string(focusTask(id2, "requested")), `"intent":"order",`,
		`"intent":"order","identifier":[{"system":"urn:other","value":"X"}],`, 1)
	e.do(t, north, "POST", "/fhir/Task", []byte(other)).want(t, http.StatusUnprocessableEntity)

	// Two business identifiers: the second would be dropped, so refused.
	two := strings.Replace(string(transaction("ID-3", "requested")), `"identifier":[{"system":"https://north.example.org/referrals","value":"ID-3"}]`,
		`"identifier":[{"system":"https://north.example.org/referrals","value":"ID-3"},{"system":"urn:b","value":"B"}]`, 1)
	res = e.do(t, north, "POST", "/fhir", []byte(two)).want(t, http.StatusBadRequest)
	if !strings.Contains(string(res.body), "identifier[1]") {
		t.Errorf("refusal does not name identifier[1]: %s", res.body)
	}

	// A transaction retried with its ifNoneExist returns the same Task, 200.
	tid := e.createReferral(t, "ID-4", "requested")
	var b struct {
		Entry []struct {
			Response struct{ Status, Location string }
		}
	}
	e.do(t, north, "POST", "/fhir", transaction("ID-4", "requested")).want(t, http.StatusOK).decode(t, &b)
	if b.Entry[0].Response.Status != "200 OK" || !strings.HasPrefix(b.Entry[0].Response.Location, "Task/"+tid+"/") {
		t.Errorf("retried transaction %+v, want 200 for Task %s", b.Entry[0].Response, tid)
	}
	var found searchBundle
	e.do(t, north, "GET", "/fhir/Task?identifier=https://north.example.org/referrals|ID-4", nil).want(t, http.StatusOK).decode(t, &found)
	if len(found.Entry) != 1 || found.Entry[0].Resource.ID != tid {
		t.Errorf("search by identifier: %+v", found.Entry)
	}
}
