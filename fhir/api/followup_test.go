package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestFollowUpTask has the receiver refer the patient back with a Task
// basedOn the referral it received: the new referral links the original,
// inherits the treatment basis and, since the referring practice has no
// channel here, waits in draft naming the gap. The referrer cannot make a
// follow-up of its own referral, and a malformed basedOn is named.
func TestFollowUpTask(t *testing.T) {
	e := newEnv(t)
	orig := e.createReferral(t, "FU-1", "requested")
	followUp := func(basedOn, status string) []byte {
		return []byte(fmt.Sprintf(`{"resourceType":"Task","status":%q,"intent":"order","basedOn":[{"reference":%q}],
			"note":[{"text":"Back to primary care for follow-up."}]}`, status, basedOn))
	}
	// Receipt first: the receiver acknowledges, then refers back.
	e.putStatus(t, "ehr-ortho", orig, setStatus("received", nil)).want(t, http.StatusOK)

	res := e.do(t, e.token(t, "ehr-ortho"), "POST", "/fhir/Task", followUp("Task/"+orig, "requested")).want(t, http.StatusCreated)
	var got struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		BasedOn []struct {
			Reference string `json:"reference"`
		} `json:"basedOn"`
		Requester struct{ Reference string } `json:"requester"`
		Owner     struct{ Reference string } `json:"owner"`
		Note      []struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"note"`
	}
	res.decode(t, &got)
	if len(got.BasedOn) != 1 || got.BasedOn[0].Reference != "Task/"+orig || got.Requester.Reference != "Organization/org-ortho" ||
		got.Owner.Reference != "Organization/org-north" || got.Status != "draft" {
		t.Fatalf("follow-up Task: %s", res.body)
	}
	blocked := ""
	for _, n := range got.Note {
		if n.ID == "blocked" {
			blocked = n.Text
		}
	}
	if blocked == "" {
		t.Fatalf("held follow-up does not say why: %s", res.body)
	}
	r, _, err := e.svc.Referral(t.Context(), orig)
	if err != nil || len(r.FollowUps) != 1 || r.FollowUps[0] != got.ID {
		t.Fatalf("original does not link the follow-up: %v %v", r.FollowUps, err)
	}
	// The follow-up reads back with its basedOn (and validates: e.do checks every response against R4).
	e.do(t, e.token(t, "ehr-ortho"), "GET", "/fhir/Task/"+got.ID, nil).want(t, http.StatusOK)

	// The referrer is not the receiver of its own referral.
	if res := e.do(t, e.token(t, "ehr-north"), "POST", "/fhir/Task", followUp("Task/"+orig, "requested")); res.status < 400 {
		t.Fatalf("referrer's follow-up: %d %s", res.status, res.body)
	}
	res = e.do(t, e.token(t, "ehr-ortho"), "POST", "/fhir/Task", followUp("ServiceRequest/"+orig, "requested")).want(t, http.StatusBadRequest)
	if !strings.Contains(string(res.body), "Task.basedOn[0]") {
		t.Fatalf("malformed basedOn: %s", res.body)
	}
	res = e.do(t, e.token(t, "ehr-ortho"), "POST", "/fhir/Task", followUp("Task/"+orig, "completed")).want(t, http.StatusBadRequest)
	if !strings.Contains(string(res.body), "Task.status") {
		t.Fatalf("follow-up created completed: %s", res.body)
	}
}
