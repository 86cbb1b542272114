package mapping

import (
	"encoding/json"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

// FollowUp is a Task a receiver creates to refer the patient back or
// onward from a referral it received: basedOn the original Task, no focus
// (the gateway builds the new ServiceRequest from the original).
type FollowUp struct {
	OriginalID string // the referral (Task) it is based on
	OwnerID    string // who the new referral goes to; "" means back to the original referrer
	Note       string // the Task's note text: why it is referred back or onward
	Submit     bool   // status requested: send at once; draft: keep as a draft
}

// ParseFollowUp recognises a follow-up Task: ok is false for any other
// Task (a full create, the second step of a two-step create), and err
// names the element of a follow-up Task that cannot be applied.
func ParseFollowUp(data []byte) (fu *FollowUp, ok bool, err error) {
	var probe struct {
		ResourceType string          `json:"resourceType"`
		BasedOn      json.RawMessage `json:"basedOn"`
		Focus        json.RawMessage `json:"focus"`
		Contained    json.RawMessage `json:"contained"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.ResourceType != "Task" || len(probe.BasedOn) == 0 ||
		len(probe.Focus) > 0 || len(probe.Contained) > 0 {
		return nil, false, nil
	}
	var t Task
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, true, invalid("Task", "not a valid Task: %v", err)
	}
	if len(t.BasedOn) != 1 {
		return nil, true, invalid("Task.basedOn", "a follow-up Task is based on exactly one referral Task")
	}
	fu = &FollowUp{OriginalID: refID(str(t.BasedOn[0].Reference), "Task")}
	if fu.OriginalID == "" {
		return nil, true, invalid("Task.basedOn[0]", "must reference the received referral as Task/<id>")
	}
	switch gateway.Status(t.Status) {
	case gateway.StatusDraft:
	case gateway.StatusRequested:
		fu.Submit = true
	default:
		return nil, true, invalid("Task.status", "a follow-up Task is created draft or requested, not %q", t.Status)
	}
	if t.Intent != "order" {
		return nil, true, invalid("Task.intent", "must be order")
	}
	if t.Owner != nil {
		if fu.OwnerID = partyID(t.Owner, "Organization", "Practitioner", "PractitionerRole"); fu.OwnerID == "" {
			return nil, true, invalid("Task.owner", "must reference a directory Organization, Practitioner or PractitionerRole")
		}
	}
	var notes []string
	for _, n := range t.Note {
		if s := strings.TrimSpace(n.Text); s != "" {
			notes = append(notes, s)
		}
	}
	fu.Note = strings.Join(notes, "\n")
	return fu, true, nil
}
