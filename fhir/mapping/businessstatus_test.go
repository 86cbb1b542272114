package mapping

import (
	"encoding/json"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// TestBusinessStatusBSeR renders the BSeR business status code for each
// status that has one, keeps the receiver's own word as text, and reads an
// echoed BSeR code back as no progress word at all.
func TestBusinessStatusBSeR(t *testing.T) {
	cases := []struct {
		status gateway.Status
		code   string
	}{
		{gateway.StatusRequested, "2.0"}, {gateway.StatusReceived, "2.0"}, {gateway.StatusAccepted, "3.0"},
		{gateway.StatusRejected, "4.0"}, {gateway.StatusCancelled, "6.0"}, {gateway.StatusCompleted, "7.0"},
		{gateway.StatusOnHold, ""}, {gateway.StatusDraft, ""}, {gateway.StatusFailed, ""},
	}
	for _, c := range cases {
		bs := businessStatus(&gateway.Referral{Status: c.status})
		switch {
		case c.code == "" && bs != nil:
			t.Errorf("%s: business status %+v, want none", c.status, bs)
		case c.code != "" && (bs == nil || len(bs.Coding) != 1 || *bs.Coding[0].Code != c.code ||
			*bs.Coding[0].System != SystemBSeRBusinessStatus):
			t.Errorf("%s: business status %+v, want BSeR %s", c.status, bs, c.code)
		}
	}
	bs := businessStatus(&gateway.Referral{Status: gateway.StatusAccepted, BusinessStatus: "appointment booked"})
	if bs == nil || bs.Text == nil || *bs.Text != "appointment booked" || *bs.Coding[0].Code != "3.0" {
		t.Fatalf("code and text: %+v", bs)
	}

	// A client that PUTs the Task back as read, BSeR code included, asks for
	// no progress word; one that sends its own coding does.
	task := NewTask(&gateway.Referral{ID: "r-1", Version: 1, Status: gateway.StatusAccepted})
	task.Status = "in-progress"
	b, _ := json.Marshal(task)
	u, err := ParseTaskUpdate(b)
	if err != nil {
		t.Fatal(err)
	}
	if u.Input.BusinessStatus != "" {
		t.Fatalf("echoed BSeR code read as progress %q", u.Input.BusinessStatus)
	}
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	raw["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": "urn:example:status", "code": "booked", "display": "appointment booked"}}}
	b, _ = json.Marshal(raw)
	if u, err = ParseTaskUpdate(b); err != nil || u.Input.BusinessStatus != "appointment booked" {
		t.Fatalf("own coding: %+v %v", u, err)
	}
}
