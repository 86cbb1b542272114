package gateway

import (
	"time"
)

// Status is a referral's lifecycle state, aligned with FHIR Task.status.
type Status string

// The referral lifecycle states (DOMAIN.md, FHIR R4 TaskStatus codes).
const (
	StatusDraft      Status = "draft"
	StatusRequested  Status = "requested"
	StatusReceived   Status = "received"
	StatusAccepted   Status = "accepted"
	StatusRejected   Status = "rejected"
	StatusOnHold     Status = "on-hold"
	StatusInProgress Status = "in-progress"
	StatusCompleted  Status = "completed"
	StatusCancelled  Status = "cancelled"
	StatusFailed     Status = "failed"
)

// Priority is the urgency of a referral (FHIR request-priority codes).
type Priority string

// The FHIR R4 request priorities.
const (
	PriorityRoutine Priority = "routine"
	PriorityUrgent  Priority = "urgent"
	PriorityASAP    Priority = "asap"
	PriorityStat    Priority = "stat"
)

// Coding is a code from a terminology, e.g. SNOMED CT or ICD-10-CM.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Requester is the referring practice and provider. OrgID is the
// directory id of the referring practice, which is also its tenant.
type Requester struct {
	OrgID          string `json:"orgId"`
	PractitionerID string `json:"practitionerId,omitempty"` // directory id, when the provider is in the directory
	Name           string `json:"name,omitempty"`           // the referring provider's display name
	NPI            string `json:"npi,omitempty"`
	Phone          string `json:"phone,omitempty"` // callback number printed on fax cover sheets
}

// Patient holds the minimum identifiers the receiver needs to match the
// patient. It is PHI: it is stored and sent, never logged.
type Patient struct {
	ID         string `json:"id"`                   // the referring practice's patient id (MRN)
	System     string `json:"system,omitempty"`     // identifier system of ID
	FamilyName string `json:"familyName,omitempty"` //
	GivenName  string `json:"givenName,omitempty"`  //
	BirthDate  string `json:"birthDate,omitempty"`  // YYYY-MM-DD
	Gender     string `json:"gender,omitempty"`     // FHIR administrative gender
}

// Sensitivity flags records that carry extra protections.
type Sensitivity struct {
	Part2              bool `json:"part2,omitempty"`              // 42 CFR Part 2 substance-use-disorder records
	BehavioralHealth   bool `json:"behavioralHealth,omitempty"`   //
	PsychotherapyNotes bool `json:"psychotherapyNotes,omitempty"` // needs an authorization under 164.508(a)(2)
}

// Record is one document the referrer selected to travel with the referral.
// The content itself is stored encrypted at rest, addressed by its SHA-256.
type Record struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	ContentType string `json:"contentType"`
	SHA256      string `json:"sha256"` // hex digest of the plaintext
	Size        int64  `json:"size"`
}

// Override lifts a minimum-necessary block with a documented reason.
type Override struct {
	Reason string    `json:"reason"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
}

// Transition is one recorded lifecycle move: who, when, why.
type Transition struct {
	From       Status    `json:"from"`
	To         Status    `json:"to"`
	Actor      string    `json:"actor"`
	At         time.Time `json:"at"`
	ReasonCode string    `json:"reasonCode,omitempty"`
	ReasonText string    `json:"reasonText,omitempty"`
}

// Referral is a request from one practice to another provider to take over
// or share a patient's care, with everything needed to deliver it.
type Referral struct {
	ID       string    `json:"id"`
	Version  int       `json:"version"` // increments on every change; FHIR meta.versionId
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Status   Status    `json:"status"`
	Priority Priority  `json:"priority"`

	// Identifier is the referrer's own business identifier for the
	// referral (FHIR Task.identifier); unique per requesting org when set.
	Identifier string `json:"identifier,omitempty"`

	Requester  Requester `json:"requester"`
	ReceiverID string    `json:"receiverId"` // directory entry of the receiving party
	// ReceiverKind is the kind of that entry (an organization, or a
	// practitioner whose FHIR face is a PractitionerRole); empty on
	// referrals stored before it was kept, which read as organizations.
	ReceiverKind EntryKind `json:"receiverKind,omitempty"`
	// ReceiverOrgID is the root organisation of the receiver: the second
	// tenant whose trail records a cross-practice referral.
	ReceiverOrgID string   `json:"receiverOrgId"`
	Patient       Patient  `json:"patient"`
	Reason        Coding   `json:"reason"`
	ReasonText    string   `json:"reasonText,omitempty"` // free text; scanned for minimum necessary
	Records       []Record `json:"records,omitempty"`
	// Order is the sealed copy of the order as the requester's system sent
	// it (NewReferral.Order); nil when there is none.
	Order     *Record     `json:"order,omitempty"`
	Consent   ConsentRef  `json:"consent"`
	Sensitive Sensitivity `json:"sensitivity"`

	// Blocked names the gap that keeps a draft from being sent (consent,
	// BAA, minimum necessary, routing); empty when nothing blocks it.
	Blocked string `json:"blocked,omitempty"`
	// MinimumNecessaryOverride, when set, lets the send proceed despite
	// identifier findings; the override is audited.
	MinimumNecessaryOverride *Override `json:"minimumNecessaryOverride,omitempty"`

	// BusinessStatus is the receiver's free-form progress (FHIR
	// Task.businessStatus), e.g. "appointment booked".
	BusinessStatus string `json:"businessStatus,omitempty"`
	// Question is what the receiver asked when putting it on hold;
	// Answer is the referrer's reply.
	Question string `json:"question,omitempty"`
	Answer   string `json:"answer,omitempty"`
	// StatusReason is the reason of the last transition (FHIR Task.statusReason).
	StatusReason Coding `json:"statusReason,omitzero"`
	// Outcome is the consult note the receiver documented on completion.
	Outcome *Outcome `json:"outcome,omitempty"`
	// FailureReason tells the referrer why no channel could deliver.
	FailureReason string `json:"failureReason,omitempty"`

	Replaces   string `json:"replaces,omitempty"`   // id of the rejected referral this one re-routes
	ReplacedBy string `json:"replacedBy,omitempty"` //

	// BasedOn is the referral this one answers: a receiver referring the
	// patient back (specialty to primary) or onward (FHIR Task.basedOn).
	BasedOn string `json:"basedOn,omitempty"`
	// FollowUps are the referrals made from this one by its receiver.
	FollowUps []string `json:"followUps,omitempty"`

	// DeliveredVia is the channel whose delivery first reached the receiver.
	DeliveredVia ChannelKind `json:"deliveredVia,omitempty"`
	// Refusals lists the gates that refused to send it, one per refusal
	// ("consent", "baa", "minimum-necessary", "routing", "verification").
	Refusals []string `json:"refusals,omitempty"`

	History []Transition `json:"history,omitempty"`
}

// Outcome is the documented result that closes the loop.
type Outcome struct {
	Reference string    `json:"reference,omitempty"` // e.g. "DocumentReference/123" on the receiver's side
	Summary   string    `json:"summary,omitempty"`
	RecordID  string    `json:"recordId,omitempty"` // a record stored with the referral, when the note came as a document
	At        time.Time `json:"at"`
}

// Open reports whether the referral is still in an open state (one the
// referrer may cancel).
func (r *Referral) Open() bool {
	switch r.Status {
	case StatusDraft, StatusRequested, StatusReceived, StatusAccepted, StatusOnHold, StatusInProgress:
		return true
	}
	return false
}
