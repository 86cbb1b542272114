package mapping

import (
	fhir "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/gateway"
)

// SystemBSeRBusinessStatus is the BSeR (HL7 Bidirectional Services
// eReferral, STU1) code system for Task.businessStatus.
const SystemBSeRBusinessStatus = "http://hl7.org/fhir/us/bser/CodeSystem/TaskBusinessStatusCS"

// bserStatus maps a referral status to its BSeR business status code and
// display; statuses BSeR has no code for (draft, on-hold, failed) map to
// nothing.
var bserStatus = map[gateway.Status][2]string{
	gateway.StatusRequested: {"2.0", "Service Request Created"},
	gateway.StatusReceived:  {"2.0", "Service Request Created"},
	gateway.StatusAccepted:  {"3.0", "Service Request Accepted"},
	gateway.StatusRejected:  {"4.0", "Service Request Declined"},
	gateway.StatusCancelled: {"6.0", "Service Request Fulfillment Cancelled"},
	gateway.StatusCompleted: {"7.0", "Service Request Fulfillment Completed"},
}

// businessStatus renders Task.businessStatus: the BSeR code for the
// referral's status, and as text the receiver's own progress word when it
// gave one. Nil when there is neither.
func businessStatus(r *gateway.Referral) *fhir.CodeableConcept {
	var cc fhir.CodeableConcept
	if c, ok := bserStatus[r.Status]; ok {
		cc.Coding = []fhir.Coding{{System: ptr(SystemBSeRBusinessStatus), Code: ptr(c[0]), Display: ptr(c[1])}}
	}
	if r.BusinessStatus != "" {
		cc.Text = ptr(r.BusinessStatus)
	}
	if cc.Coding == nil && cc.Text == nil {
		return nil
	}
	return &cc
}
