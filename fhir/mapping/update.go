package mapping

import (
	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"strconv"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// TaskUpdate is what an updated Task asks of the referral: the target
// status and the why that goes with it.
type TaskUpdate struct {
	ID      string
	Version int // meta.versionId when it is a positive number; else 0
	Status  gateway.Status
	Input   gateway.TransitionInput
}

// ParseTaskUpdate reads a Task sent with PUT (or produced by a PATCH). The
// question of an on-hold Task is its note with id "question" (or, failing
// that, its last plain note); the outcome of a completed one is its
// consult-note output.
func ParseTaskUpdate(data []byte) (*TaskUpdate, error) {
	n, err := parseNode(data, "Task", nil)
	if err != nil {
		return nil, err
	}
	var t Task
	if err := n.decode(&t); err != nil {
		return nil, err
	}
	st, ok := TaskStatus(t.Status)
	if !ok {
		return nil, invalid("Task.status", "%q is not a referral state", t.Status)
	}
	u := &TaskUpdate{ID: t.ID, Status: st}
	// A version id is opaque (R4 id rules): another server's need not be a
	// number, so only a positive number is read; anything else leaves 0.
	if t.Meta != nil && t.Meta.VersionId != nil {
		if v, err := strconv.Atoi(*t.Meta.VersionId); err == nil && v > 0 {
			u.Version = v
		}
	}
	in := &u.Input
	if t.StatusReason != nil {
		in.Reason = conceptCoding(t.StatusReason)
		if in.Reason.Code == "" {
			in.Reason, in.ReasonText = gateway.Coding{}, in.Reason.Display
		} else if txt := str(t.StatusReason.Text); txt != "" {
			in.ReasonText = txt
		}
	}
	if bs := t.BusinessStatus; bs != nil {
		in.BusinessStatus = str(bs.Text)
		// The BSeR code follows from the status; only another coding is the
		// receiver's own progress word.
		for _, c := range bs.Coding {
			if in.BusinessStatus != "" || str(c.System) == SystemBSeRBusinessStatus {
				continue
			}
			if in.BusinessStatus = str(c.Display); in.BusinessStatus == "" {
				in.BusinessStatus = str(c.Code)
			}
		}
	}
	plain := ""
	for _, note := range t.Note {
		switch str(note.Id) {
		case NoteQuestion:
			in.Question = note.Text
		case NoteAnswer:
			in.Answer = note.Text
		case "":
			plain = note.Text
		}
	}
	if in.Question == "" && st == gateway.StatusOnHold {
		if in.Question = plain; in.Question == "" {
			in.Question = in.BusinessStatus
		}
	}
	for i, o := range t.Output {
		if !isConsultNote(o.Type) {
			continue
		}
		out := &gateway.Outcome{}
		switch {
		case o.ValueReference != nil:
			out.Reference, out.Summary = str(o.ValueReference.Reference), str(o.ValueReference.Display)
		case o.ValueString != nil:
			out.Summary = *o.ValueString
		default:
			return nil, invalid("Task.output["+strconv.Itoa(i)+"]", "%s", ConsultNoteHint)
		}
		if t.ExecutionPeriod != nil && t.ExecutionPeriod.End != nil {
			at, err := time.Parse(time.RFC3339Nano, *t.ExecutionPeriod.End)
			if err != nil {
				return nil, invalid("Task.executionPeriod.end", "not a FHIR instant")
			}
			out.At = at.UTC()
		}
		in.Outcome = out
	}
	return u, nil
}

// Changes keeps only what next asks beyond prev (the Task as the client
// read it), so that a PUT of a whole Task does not repeat the previous
// transition's reason, question or outcome.
func Changes(prev, next *TaskUpdate) gateway.TransitionInput {
	in := next.Input
	p := prev.Input
	if in.Reason == p.Reason && in.ReasonText == p.ReasonText {
		in.Reason, in.ReasonText = gateway.Coding{}, ""
	}
	if in.BusinessStatus == p.BusinessStatus {
		in.BusinessStatus = ""
	}
	if in.Question == p.Question {
		in.Question = ""
	}
	if in.Answer == p.Answer {
		in.Answer = ""
	}
	if in.Outcome != nil && p.Outcome != nil && *in.Outcome == *p.Outcome {
		in.Outcome = nil
	}
	in.ExpectVersion = next.Version
	return in
}

func hasCode(cc fhir.CodeableConcept, system, code string) bool {
	for _, c := range cc.Coding {
		if str(c.System) == system && str(c.Code) == code {
			return true
		}
	}
	return false
}
