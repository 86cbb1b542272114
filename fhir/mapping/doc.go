// Package mapping converts between the gateway's referral and FHIR R4
// resources: the ServiceRequest (the order), the Task (the workflow, whose
// status is the referral's lifecycle state), the Patient, the referring
// Practitioner, Organization references, the Consent that records the
// disclosure basis, and a DocumentReference plus Binary for each record.
//
// It builds on github.com/samply/golang-fhir-models, whose generated types
// have defects this package guards against at its boundary:
//
//   - Task.input/output marshal every value[x] key at once, which is
//     invalid FHIR; Task is therefore our own struct (Task, TaskParameter).
//   - Unmarshalling drops contained resources and primitive extensions
//     (_status); contained resources are read from the raw JSON here.
//   - A missing required code (status, intent) silently becomes the enum's
//     zero value; required elements are checked on the raw JSON before the
//     generated types see it.
//
// The package is pure conversion: it must not store, send or log anything,
// and it does not import fhir/api, fhir/push or any channel. Errors name
// the offending element as a FHIRPath expression (see InvalidError) so the
// API can report it in an OperationOutcome.
package mapping
