package mapping

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/gateway"
)

// Task is the FHIR R4 Task that tracks a referral's workflow. It is our own
// struct rather than fhir.Task because the generated TaskInput/TaskOutput
// marshal every value[x] choice at once; it carries only the elements the
// referral uses.
type Task struct {
	ResourceType    string                `json:"resourceType"`
	ID              string                `json:"id,omitempty"`
	Meta            *fhir.Meta            `json:"meta,omitempty"`
	Contained       []json.RawMessage     `json:"contained,omitempty"`
	Identifier      []fhir.Identifier     `json:"identifier,omitempty"`
	BasedOn         []fhir.Reference      `json:"basedOn,omitempty"` // the referral this one follows up (referred back or onward)
	Status          string                `json:"status"`
	StatusReason    *fhir.CodeableConcept `json:"statusReason,omitempty"`
	BusinessStatus  *fhir.CodeableConcept `json:"businessStatus,omitempty"`
	Intent          string                `json:"intent"`
	Priority        string                `json:"priority,omitempty"`
	Code            *fhir.CodeableConcept `json:"code,omitempty"`
	Focus           *fhir.Reference       `json:"focus,omitempty"`
	For             *fhir.Reference       `json:"for,omitempty"`
	ExecutionPeriod *fhir.Period          `json:"executionPeriod,omitempty"`
	AuthoredOn      string                `json:"authoredOn,omitempty"`
	LastModified    string                `json:"lastModified,omitempty"`
	Requester       *fhir.Reference       `json:"requester,omitempty"`
	Owner           *fhir.Reference       `json:"owner,omitempty"`
	Note            []fhir.Annotation     `json:"note,omitempty"`
	Input           []TaskParameter       `json:"input,omitempty"`
	Output          []TaskParameter       `json:"output,omitempty"`
}

// TaskParameter is one Task.input or Task.output: a type and exactly one of
// the two value[x] choices the referral uses.
type TaskParameter struct {
	Type           fhir.CodeableConcept `json:"type"`
	ValueString    *string              `json:"valueString,omitempty"`
	ValueReference *fhir.Reference      `json:"valueReference,omitempty"`
}

// Instant formats t as a FHIR instant (UTC, nanosecond precision kept so a
// rendered time reads back unchanged).
func Instant(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// NewTask renders the referral as its Task. The Task shares the referral's
// id and version; focus is the ServiceRequest of the same id.
func NewTask(r *gateway.Referral) *Task {
	t := &Task{
		ResourceType: "Task",
		ID:           r.ID,
		Meta:         meta(r),
		Identifier:   identifiers(r.Identifier),
		Status:       string(r.Status),
		Intent:       "order",
		Priority:     string(r.Priority),
		Code:         concept(SystemTaskCode, "fulfill", "Fulfill the focal request"),
		Focus:        ref("ServiceRequest/"+r.ID, "ServiceRequest"),
		For:          patientRef(r.Patient),
		AuthoredOn:   Instant(r.Created),
		LastModified: Instant(r.Updated),
		Requester:    ref("Organization/"+r.Requester.OrgID, "Organization"),
		Owner:        ReceiverRef(r),
	}
	if r.BasedOn != "" {
		t.BasedOn = []fhir.Reference{{Reference: ptr("Task/" + r.BasedOn), Type: ptr("Task")}}
	}
	if r.StatusReason != (gateway.Coding{}) {
		t.StatusReason = codingConcept(r.StatusReason)
	}
	t.BusinessStatus = businessStatus(r)
	notes := []struct {
		id, text string
		author   *fhir.Reference
	}{
		{NoteQuestion, r.Question, ReceiverRef(r)},
		{NoteAnswer, r.Answer, ref("Organization/"+r.Requester.OrgID, "Organization")},
		{NoteBlocked, r.Blocked, nil},
		{NoteFailure, r.FailureReason, nil},
	}
	for _, n := range notes {
		if n.text == "" {
			continue
		}
		t.Note = append(t.Note, fhir.Annotation{Id: ptr(n.id), Text: n.text, AuthorReference: n.author})
	}
	for _, rec := range r.Records {
		t.Input = append(t.Input, TaskParameter{
			Type:           *concept(SystemTaskParameter, ParamRecord, "Record sent with the referral"),
			ValueReference: &fhir.Reference{Reference: ptr("DocumentReference/" + rec.ID), Display: nonEmpty(rec.Title)},
		})
	}
	if o := r.Outcome; o != nil {
		switch {
		case o.Reference != "":
			t.Output = append(t.Output, TaskParameter{
				Type:           consultNoteType(),
				ValueReference: &fhir.Reference{Reference: ptr(o.Reference), Display: nonEmpty(o.Summary)},
			})
		case o.Summary != "":
			t.Output = append(t.Output, TaskParameter{
				Type:        consultNoteType(),
				ValueString: ptr(o.Summary),
			})
		}
		if o.RecordID != "" {
			t.Output = append(t.Output, TaskParameter{
				Type:           *concept(SystemTaskParameter, ParamOutcomeRecord, "Consult note stored with the referral"),
				ValueReference: ref("DocumentReference/"+o.RecordID, "DocumentReference"),
			})
		}
		if !o.At.IsZero() {
			t.ExecutionPeriod = &fhir.Period{End: ptr(Instant(o.At))}
		}
	}
	return t
}

// ReceiverRef is the receiving party as Task.owner and
// ServiceRequest.performer name it: PractitionerRole/<id> for a directory
// practitioner (as the directory export names the same entry), else
// Organization/<id>.
func ReceiverRef(r *gateway.Referral) *fhir.Reference {
	if r.ReceiverKind == gateway.KindPractitioner {
		return ref("PractitionerRole/"+r.ReceiverID, "PractitionerRole")
	}
	return ref("Organization/"+r.ReceiverID, "Organization")
}

// meta is the shared meta of the referral's Task and ServiceRequest.
func meta(r *gateway.Referral) *fhir.Meta {
	m := &fhir.Meta{VersionId: ptr(strconv.Itoa(r.Version)), LastUpdated: ptr(Instant(r.Updated))}
	if r.Sensitive.Part2 {
		m.Security = append(m.Security, fhir.Coding{System: ptr(SystemActCode), Code: ptr(labelPart2)})
	}
	if r.Sensitive.BehavioralHealth {
		m.Security = append(m.Security, fhir.Coding{System: ptr(SystemActCode), Code: ptr(labelBehavioral)})
	}
	if r.Sensitive.PsychotherapyNotes {
		m.Security = append(m.Security, fhir.Coding{System: ptr(SystemActCode), Code: ptr(labelPsychotherapy)})
	}
	return m
}

// identifiers renders the referrer's business identifier, stored as
// "system|value" when it came with a system.
func identifiers(id string) []fhir.Identifier {
	if id == "" {
		return nil
	}
	system, value := SplitIdentifier(id)
	if system == "" {
		system = SystemReferralIdentifier
	}
	return []fhir.Identifier{{System: ptr(system), Value: ptr(value)}}
}

// SplitIdentifier splits a stored "system|value" identifier; a value
// without a system comes back with system "".
func SplitIdentifier(id string) (system, value string) {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '|' {
			return id[:i], id[i+1:]
		}
	}
	return "", id
}

// JoinIdentifier is the inverse of SplitIdentifier; the default system is
// dropped so that identifiers round-trip.
func JoinIdentifier(system, value string) string {
	if system == "" || system == SystemReferralIdentifier {
		return value
	}
	return system + "|" + value
}

// patientRef is a logical reference to the patient by its identifier, so
// that the Task carries no demographics.
func patientRef(p gateway.Patient) *fhir.Reference {
	id := &fhir.Identifier{Value: ptr(p.ID)}
	if p.System != "" {
		id.System = ptr(p.System)
	}
	return &fhir.Reference{Type: ptr("Patient"), Identifier: id}
}

func ref(reference, typ string) *fhir.Reference {
	return &fhir.Reference{Reference: ptr(reference), Type: nonEmpty(typ)}
}

func concept(system, code, display string) *fhir.CodeableConcept {
	return &fhir.CodeableConcept{Coding: []fhir.Coding{{System: ptr(system), Code: ptr(code), Display: nonEmpty(display)}}}
}

// codingConcept renders a gateway coding; a coding with only a display
// becomes the concept's text.
func codingConcept(c gateway.Coding) *fhir.CodeableConcept {
	if c.Code == "" {
		return &fhir.CodeableConcept{Text: nonEmpty(c.Display)}
	}
	return &fhir.CodeableConcept{Coding: []fhir.Coding{{System: nonEmpty(c.System), Code: ptr(c.Code), Display: nonEmpty(c.Display)}}}
}

// conceptCoding reads a concept back into a gateway coding.
func conceptCoding(cc *fhir.CodeableConcept) gateway.Coding {
	if cc == nil {
		return gateway.Coding{}
	}
	for _, c := range cc.Coding {
		if str(c.Code) != "" {
			return gateway.Coding{System: str(c.System), Code: str(c.Code), Display: str(c.Display)}
		}
	}
	return gateway.Coding{Display: str(cc.Text)}
}

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
