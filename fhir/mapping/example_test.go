package mapping_test

import (
	"fmt"
	"time"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

func ExampleNewTask() {
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	r := &gateway.Referral{ID: "ref-1", Version: 3, Created: at, Updated: at, Status: gateway.StatusOnHold,
		Requester: gateway.Requester{OrgID: "org-north"}, ReceiverID: "org-ortho", Patient: gateway.Patient{ID: "MRN-1"},
		Question: "Any prior imaging?"}
	t := mapping.NewTask(r)
	fmt.Println(t.Status, t.Intent, *t.Focus.Reference, *t.Owner.Reference, t.Note[0].Text)
	// Output: on-hold order ServiceRequest/ref-1 Organization/org-ortho Any prior imaging?
}

func ExampleParseTaskUpdate() {
	body := []byte(`{"resourceType":"Task","id":"ref-1","meta":{"versionId":"4"},"status":"rejected","intent":"order",
		"statusReason":{"text":"outside our service area"}}`)
	u, err := mapping.ParseTaskUpdate(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u.Status, u.Version, u.Input.ReasonText)
	// Output: rejected 4 outside our service area
}

func ExampleParseTransaction() {
	_, err := mapping.ParseTransaction([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Task","intent":"order"}}]}`))
	for _, issue := range mapping.Issues(err) {
		fmt.Println(issue.Expression)
	}
	// Output: Bundle.entry[0].resource.status
}
