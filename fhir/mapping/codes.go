package mapping

import (
	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/gateway"
)

// Code and identifier systems the mapping writes and reads.
const (
	// SystemNPI is the US National Provider Identifier system.
	SystemNPI = "http://hl7.org/fhir/sid/us-npi"
	// SystemActCode carries the sensitivity labels in meta.security.
	SystemActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	// SystemTaskCode is FHIR's task-code system; referral Tasks use "fulfill".
	SystemTaskCode = "http://hl7.org/fhir/CodeSystem/task-code"
	// SystemSNOMED is SNOMED CT; the ServiceRequest code is 3457005 (patient referral).
	SystemSNOMED = "http://snomed.info/sct"
	// SystemConsentScope is FHIR's consent-scope system (patient-privacy).
	SystemConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope"
	// SystemLOINC is LOINC; the Consent category is 59284-0 (consent document).
	SystemLOINC = "http://loinc.org"
	// SystemDirectory identifies parties by their gateway directory id.
	SystemDirectory = "urn:referralgw:directory"
	// SystemConsentBasis codes the legal basis of a disclosure (gateway.ConsentKind).
	SystemConsentBasis = "urn:referralgw:consent-basis"
	// SystemPurposeOfUse codes the purpose of use a referral claims.
	SystemPurposeOfUse = "urn:referralgw:purpose-of-use"
	// SystemConsentRecord identifies an authorization or Part 2 consent on file.
	SystemConsentRecord = "urn:referralgw:consent-record"
	// SystemCitation identifies the regulation a required-by-law disclosure cites.
	SystemCitation = "urn:referralgw:citation"
	// SystemSHA256 identifies a record by the hex SHA-256 of its content.
	SystemSHA256 = "urn:referralgw:sha256"
	// SystemTaskParameter types Task.input and Task.output entries.
	SystemTaskParameter = "urn:referralgw:task-parameter"
	// SystemReferralIdentifier is used for a Task identifier given without a system.
	SystemReferralIdentifier = "urn:referralgw:referral-identifier"
)

// Task.input / Task.output types (codes in SystemTaskParameter).
const (
	ParamRecord        = "record"         // input: a record travelling with the referral
	ParamConsultNote   = "consult-note"   // output: the receiver's consult note
	ParamOutcomeRecord = "outcome-record" // output: a note stored with the referral
)

// The consult note that closes the loop is a Task.output typed with LOINC
// 11488-4 (Consult note), the document type BSeR and 360X use for the
// referral's feedback; its value is a reference to the note (a
// DocumentReference) or, failing that, a summary string. The older private
// code (SystemTaskParameter|consult-note) is still read, and written as a
// second coding.
const (
	LOINCConsultNote = "11488-4"
	// ConsultNoteHint says what a completing update must carry; the API
	// puts it in the OperationOutcome.
	ConsultNoteHint = `completing a referral needs Task.output with type http://loinc.org|11488-4 (Consult note) and valueReference to the consult note (e.g. DocumentReference/<id>) or valueString with its summary`
)

// isConsultNote reports whether a Task.output type names the consult note.
func isConsultNote(cc fhir.CodeableConcept) bool {
	return hasCode(cc, SystemLOINC, LOINCConsultNote) || hasCode(cc, SystemTaskParameter, ParamConsultNote)
}

// consultNoteType is the type of the consult note output.
func consultNoteType() fhir.CodeableConcept {
	return fhir.CodeableConcept{Coding: []fhir.Coding{
		{System: ptr(SystemLOINC), Code: ptr(LOINCConsultNote), Display: ptr("Consult note")},
		{System: ptr(SystemTaskParameter), Code: ptr(ParamConsultNote), Display: ptr("Consult note")},
	}}
}

// Annotation ids that give each Task.note its meaning.
const (
	NoteQuestion = "question" // the receiver's on-hold question
	NoteAnswer   = "answer"   // the referrer's reply
	NoteBlocked  = "blocked"  // why a draft cannot be sent (server-owned)
	NoteFailure  = "failure"  // why no channel could deliver (server-owned)
	NoteReason   = "reason"   // ServiceRequest.note: the free-text reason for referral
)

// Ids of the resources contained in a rendered ServiceRequest.
const (
	ContainedPatient   = "patient"
	ContainedRequester = "requester"
	ContainedConsent   = "consent"
)

// sensitivity labels in meta.security (v3 ActCode).
const (
	labelPart2         = "42CFRPart2"
	labelBehavioral    = "BH"
	labelPsychotherapy = "PSYTHPN"
)

// ServiceRequestStatus derives the order's status from the referral's
// lifecycle: the order is active while the referral is open, completed when
// it is, and revoked when it ended unfulfilled.
func ServiceRequestStatus(s gateway.Status) string {
	switch s {
	case gateway.StatusDraft:
		return "draft"
	case gateway.StatusCompleted:
		return "completed"
	case gateway.StatusRejected, gateway.StatusCancelled, gateway.StatusFailed:
		return "revoked"
	case gateway.StatusRequested, gateway.StatusReceived, gateway.StatusAccepted,
		gateway.StatusOnHold, gateway.StatusInProgress:
		return "active"
	}
	return "unknown"
}

// TaskStatus parses a FHIR TaskStatus code into a lifecycle state. The two
// TaskStatus codes the lifecycle has no use for (ready, entered-in-error)
// are refused.
func TaskStatus(code string) (gateway.Status, bool) {
	s := gateway.Status(code)
	return s, gateway.ValidStatus(s)
}
