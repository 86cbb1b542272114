package mapping

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/gateway"
)

// ServiceRequest is the referral's order: the generated fhir.ServiceRequest
// plus the contained resources (Patient, Practitioner, Consent) that the
// generated type cannot hold.
type ServiceRequest struct {
	fhir.ServiceRequest
	Contained []json.RawMessage
}

// MarshalJSON renders the generated resource and splices in "contained".
func (s ServiceRequest) MarshalJSON() ([]byte, error) {
	inner, err := json.Marshal(s.ServiceRequest)
	if err != nil {
		return nil, fmt.Errorf("mapping: marshal ServiceRequest: %w", err)
	}
	if len(s.Contained) == 0 {
		return inner, nil
	}
	c, err := json.Marshal(s.Contained)
	if err != nil {
		return nil, fmt.Errorf("mapping: marshal contained: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(`{"contained":`)
	b.Write(c)
	b.WriteByte(',')
	b.Write(inner[1:])
	return b.Bytes(), nil
}

// NewServiceRequest renders the referral as its ServiceRequest, with the
// patient, the referring practitioner (when known) and the consent basis
// contained, and the records as supportingInfo.
func NewServiceRequest(r *gateway.Referral) (*ServiceRequest, error) {
	sr := fhir.ServiceRequest{
		Id:         ptr(r.ID),
		Meta:       meta(r),
		Identifier: identifiers(r.Identifier),
		Code:       concept(SystemSNOMED, "3457005", "Patient referral"),
		Subject:    fhir.Reference{Reference: ptr("#" + ContainedPatient)},
		AuthoredOn: ptr(Instant(r.Created)),
		Performer:  []fhir.Reference{*ReceiverRef(r)},
		ReasonCode: []fhir.CodeableConcept{*codingConcept(r.Reason)},
	}
	if err := setCode(&sr.Status, ServiceRequestStatus(r.Status)); err != nil {
		return nil, err
	}
	if err := setCode(&sr.Intent, "order"); err != nil {
		return nil, err
	}
	if r.Priority != "" {
		var p fhir.RequestPriority
		if err := setCode(&p, string(r.Priority)); err != nil {
			return nil, err
		}
		sr.Priority = &p
	}
	if r.Replaces != "" {
		sr.Replaces = []fhir.Reference{*ref("ServiceRequest/"+r.Replaces, "ServiceRequest")}
	}
	if r.ReasonText != "" {
		sr.Note = []fhir.Annotation{{Id: ptr(NoteReason), Text: r.ReasonText}}
	}
	out := &ServiceRequest{ServiceRequest: sr}
	if err := out.contain(NewPatient(r.Patient, ContainedPatient)); err != nil {
		return nil, err
	}
	if p := NewPractitioner(r.Requester, ContainedRequester); p != nil {
		if err := out.contain(p); err != nil {
			return nil, err
		}
		out.Requester = &fhir.Reference{Reference: ptr("#" + ContainedRequester)}
	} else {
		out.Requester = ref("Organization/"+r.Requester.OrgID, "Organization")
	}
	consent, err := NewConsent(r, ContainedConsent)
	if err != nil {
		return nil, err
	}
	if err := out.contain(consent); err != nil {
		return nil, err
	}
	out.SupportingInfo = append(out.SupportingInfo, fhir.Reference{Reference: ptr("#" + ContainedConsent)})
	for _, rec := range r.Records {
		out.SupportingInfo = append(out.SupportingInfo, *ref("DocumentReference/"+rec.ID, "DocumentReference"))
	}
	return out, nil
}

func (s *ServiceRequest) contain(res any) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("mapping: marshal contained resource: %w", err)
	}
	s.Contained = append(s.Contained, b)
	return nil
}

// NewPatient renders the patient identifiers a referral carries.
func NewPatient(p gateway.Patient, id string) *fhir.Patient {
	out := &fhir.Patient{Id: nonEmpty(id), Identifier: []fhir.Identifier{{System: nonEmpty(p.System), Value: ptr(p.ID)}}}
	if p.FamilyName != "" || p.GivenName != "" {
		n := fhir.HumanName{Family: nonEmpty(p.FamilyName)}
		if p.GivenName != "" {
			n.Given = []string{p.GivenName}
		}
		out.Name = []fhir.HumanName{n}
	}
	out.BirthDate = nonEmpty(p.BirthDate)
	if p.Gender != "" {
		var g fhir.AdministrativeGender
		if setCode(&g, p.Gender) == nil {
			out.Gender = &g
		}
	}
	return out
}

// NewPractitioner renders the referring provider, or nil when the referral
// names none.
func NewPractitioner(q gateway.Requester, id string) *fhir.Practitioner {
	if q.PractitionerID == "" && q.Name == "" && q.NPI == "" && q.Phone == "" {
		return nil
	}
	p := &fhir.Practitioner{Id: nonEmpty(id)}
	if q.PractitionerID != "" {
		p.Identifier = append(p.Identifier, fhir.Identifier{System: ptr(SystemDirectory), Value: ptr(q.PractitionerID)})
	}
	if q.NPI != "" {
		p.Identifier = append(p.Identifier, fhir.Identifier{System: ptr(SystemNPI), Value: ptr(q.NPI)})
	}
	if q.Name != "" {
		p.Name = []fhir.HumanName{{Text: ptr(q.Name)}}
	}
	if q.Phone != "" {
		sys := fhir.ContactPointSystemPhone
		p.Telecom = []fhir.ContactPoint{{System: &sys, Value: ptr(q.Phone)}}
	}
	return p
}

// NewConsent renders the disclosure basis the referral claims: the basis
// as policyRule (with the citation of a required-by-law disclosure), the
// purpose of use as provision.purpose, and the consent on file as
// identifier.
func NewConsent(r *gateway.Referral, id string) (*fhir.Consent, error) {
	c := &fhir.Consent{
		Id:       nonEmpty(id),
		Scope:    *concept(SystemConsentScope, "patient-privacy", "Privacy Consent"),
		Category: []fhir.CodeableConcept{*concept(SystemLOINC, "59284-0", "Consent Document")},
		Patient:  &fhir.Reference{Reference: ptr("#" + ContainedPatient)},
		DateTime: ptr(Instant(r.Created)),
	}
	if err := setCode(&c.Status, "active"); err != nil {
		return nil, err
	}
	rule := concept(SystemConsentBasis, string(r.Consent.Kind), "")
	if r.Consent.Citation != "" {
		rule.Coding = append(rule.Coding, fhir.Coding{System: ptr(SystemCitation), Code: ptr(r.Consent.Citation)})
	}
	c.PolicyRule = rule
	if r.Consent.ConsentID != "" {
		c.Identifier = []fhir.Identifier{{System: ptr(SystemConsentRecord), Value: ptr(r.Consent.ConsentID)}}
	}
	if r.Consent.Purpose != "" {
		permit := fhir.ConsentProvisionTypePermit
		c.Provision = &fhir.ConsentProvision{Type: &permit,
			Purpose: []fhir.Coding{{System: ptr(SystemPurposeOfUse), Code: ptr(r.Consent.Purpose)}}}
	}
	return c, nil
}

// NewDocumentReference renders one record's metadata; its content is the
// Binary of the same id.
func NewDocumentReference(r *gateway.Referral, rec gateway.Record) (*fhir.DocumentReference, error) {
	d := &fhir.DocumentReference{
		Id:          ptr(rec.ID),
		Identifier:  []fhir.Identifier{{System: ptr(SystemSHA256), Value: ptr(rec.SHA256)}},
		Subject:     patientRef(r.Patient),
		Description: nonEmpty(rec.Title),
		Content: []fhir.DocumentReferenceContent{{Attachment: fhir.Attachment{
			ContentType: ptr(rec.ContentType), Url: ptr("Binary/" + rec.ID), Size: ptr(int(rec.Size)), Title: nonEmpty(rec.Title),
		}}},
	}
	if err := setCode(&d.Status, "current"); err != nil {
		return nil, err
	}
	return d, nil
}

// NewBinary renders one record's content.
func NewBinary(rc gateway.RecordContent) *fhir.Binary {
	return &fhir.Binary{Id: ptr(rc.ID), ContentType: rc.ContentType, Data: ptr(base64.StdEncoding.EncodeToString(rc.Content))}
}

// NewOrganization renders a directory entry as an Organization.
func NewOrganization(e *gateway.Entry) *fhir.Organization {
	o := &fhir.Organization{Id: ptr(e.ID), Active: ptr(true), Name: nonEmpty(e.Name),
		Identifier: []fhir.Identifier{{System: ptr(SystemDirectory), Value: ptr(e.ID)}}}
	if e.NPI != "" {
		o.Identifier = append(o.Identifier, fhir.Identifier{System: ptr(SystemNPI), Value: ptr(e.NPI)})
	}
	if e.ParentID != "" {
		o.PartOf = ref("Organization/"+e.ParentID, "Organization")
	}
	return o
}

// setCode sets a generated enum from its FHIR code through the enum's own
// UnmarshalJSON, so that an unknown code is an error rather than a default.
func setCode(dst json.Unmarshaler, code string) error {
	b, err := json.Marshal(code)
	if err != nil {
		return err
	}
	if err := dst.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("mapping: code %q: %w", code, err)
	}
	return nil
}
