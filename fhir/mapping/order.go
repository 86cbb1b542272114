package mapping

import (
	"fmt"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/gateway"
)

// ParseServiceRequest reads a single ServiceRequest, with its Patient,
// Practitioner, Consent and DocumentReferences contained in it, as a draft
// referral: the first step of the two-step create, whose Task comes later
// (see ParseTaskLink). The receiver is ServiceRequest.performer.
func ParseServiceRequest(data []byte) (*Submission, error) {
	srNode, err := parseNode(data, "ServiceRequest", nil)
	if err != nil {
		return nil, err
	}
	var sr fhir.ServiceRequest
	if err := srNode.decode(&sr); err != nil {
		return nil, err
	}
	if got := sr.Intent.Code(); got != "order" {
		return nil, invalid(srNode.path+".intent", "must be order, not %q", got)
	}
	var n gateway.NewReferral
	if n.Identifier, err = businessIdentifier(srNode.path, sr.Identifier); err != nil {
		return nil, err
	}
	if len(sr.Performer) > 0 {
		n.ReceiverID = partyID(&sr.Performer[0], "Organization", "Practitioner", "PractitionerRole")
	}
	if n.ReceiverID == "" {
		return nil, invalid(srNode.path+".performer", "required: the receiving party (a directory Organization or Practitioner)")
	}
	if err := readOrder(nil, srNode, &sr, &n); err != nil {
		return nil, err
	}
	if n.Order, err = captureOrder(nil, srNode); err != nil {
		return nil, err
	}
	return &Submission{Referral: n}, nil
}

// TaskLink is a Task whose focus is a ServiceRequest already stored on the
// gateway (the second step of the two-step create).
type TaskLink struct {
	// ServiceRequestID is the id of the focus, the draft referral's id.
	ServiceRequestID string
	// Submit is set when the Task asked for status requested.
	Submit bool
	// RequesterOrgID and OwnerID are what Task.requester and Task.owner
	// name, or "" when absent; they must agree with the draft.
	RequesterOrgID, OwnerID string
	// Identifier is the Task's business identifier in the stored form of
	// gateway.Referral.Identifier, or ""; it must agree with the draft's.
	Identifier string
}

// ParseTaskLink reads a Task whose focus is "ServiceRequest/{id}" and which
// contains no ServiceRequest. ok is false for any other Task (including one
// that does not parse), which ParseTask then reads and reports on.
func ParseTaskLink(data []byte) (link *TaskLink, ok bool, err error) {
	task, perr := parseNode(data, "Task", nil)
	if perr != nil {
		return nil, false, nil
	}
	for _, c := range task.contained {
		if c.typ == "ServiceRequest" {
			return nil, false, nil
		}
	}
	var t Task
	if task.decode(&t) != nil || t.Focus == nil {
		return nil, false, nil
	}
	id := refID(str(t.Focus.Reference), "ServiceRequest")
	if id == "" {
		return nil, false, nil
	}
	link = &TaskLink{ServiceRequestID: id}
	switch gateway.Status(t.Status) {
	case gateway.StatusDraft:
	case gateway.StatusRequested:
		link.Submit = true
	default:
		return nil, true, invalid(task.path+".status", "a Task for a draft ServiceRequest is draft or requested, not %q", t.Status)
	}
	if t.Intent != "order" {
		return nil, true, invalid(task.path+".intent", "must be order")
	}
	if link.Identifier, err = businessIdentifier(task.path, t.Identifier); err != nil {
		return nil, true, err
	}
	if t.Requester != nil {
		if link.RequesterOrgID = partyID(t.Requester, "Organization"); link.RequesterOrgID == "" {
			return nil, true, invalid(task.path+".requester", "must reference the requesting Organization")
		}
	}
	if t.Owner != nil {
		if link.OwnerID = partyID(t.Owner, "Organization", "Practitioner", "PractitionerRole"); link.OwnerID == "" {
			return nil, true, invalid(task.path+".owner", "must reference a directory Organization or Practitioner")
		}
	}
	return link, true, nil
}

// businessIdentifier reads the one business identifier a referral keeps
// (the gateway's own delivery identifier aside), in its stored form. A
// second one would be dropped, so it is refused.
func businessIdentifier(path string, ids []fhir.Identifier) (string, error) {
	out := ""
	for i, id := range ids {
		if str(id.System) == SystemDelivery {
			continue
		}
		if str(id.Value) == "" {
			return "", invalid(fmt.Sprintf("%s.identifier[%d].value", path, i), "required")
		}
		if out != "" {
			return "", invalid(fmt.Sprintf("%s.identifier[%d]", path, i), "a referral keeps one business identifier")
		}
		out = JoinIdentifier(str(id.System), str(id.Value))
	}
	return out, nil
}
