package mapping

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/gateway"
)

// NewTransaction renders the transaction Bundle that pushes a referral to a
// receiver's FHIR server: ServiceRequest, Task, and a DocumentReference and
// Binary per record. Every entry is created conditionally: the
// ServiceRequest and Task on the delivery id (identifier system
// SystemDelivery), each DocumentReference on the delivery and record ids
// (the same system), each Binary on a tag with the same value, so a resend
// of the same delivery finds what it created before. Parties are referenced
// logically by directory identifier, since the receiver's server does not
// hold the gateway's directory.
//
// order is the requester's ServiceRequest as kept (gateway.Outbound.Order):
// when present, it is pushed unchanged but for the gateway's id and
// version, the delivery identifier, its status, and references to the
// request's other resources (the Patient, Practitioner and Consent go
// along contained; records point at their entries in the Bundle).
func NewTransaction(r *gateway.Referral, deliveryID string, records []gateway.RecordContent, order []byte) ([]byte, error) {
	if deliveryID == "" {
		return nil, fmt.Errorf("mapping: transaction for %s: no delivery id", r.ID)
	}
	deliveryIdent := fhir.Identifier{System: ptr(SystemDelivery), Value: ptr(deliveryID)}
	ifNoneExist := "identifier=" + SystemDelivery + "|" + deliveryID
	srURL := "urn:uuid:" + derivedUUID("ServiceRequest", deliveryID)
	taskURL := "urn:uuid:" + derivedUUID("Task", deliveryID)
	docURL := map[string]string{}
	binURL := map[string]string{}
	for _, rc := range records {
		docURL["DocumentReference/"+rc.ID] = "urn:uuid:" + derivedUUID("DocumentReference", deliveryID+"/"+rc.ID)
		binURL["Binary/"+rc.ID] = "urn:uuid:" + derivedUUID("Binary", deliveryID+"/"+rc.ID)
	}

	var srRes any
	if len(order) > 0 {
		var err error
		if srRes, err = pushOrder(r, order, deliveryIdent, docURL); err != nil {
			return nil, err
		}
	} else {
		sr, err := pushServiceRequest(r, deliveryIdent, docURL)
		if err != nil {
			return nil, err
		}
		srRes = sr
	}

	task := NewTask(r)
	task.ID, task.Meta = "", pushMeta(task.Meta)
	task.Identifier = append(task.Identifier, deliveryIdent)
	task.Focus = &fhir.Reference{Reference: ptr(srURL), Type: ptr("ServiceRequest")}
	task.Requester, task.Owner = logical(task.Requester), logical(task.Owner)
	for i := range task.Note {
		task.Note[i].AuthorReference = logical(task.Note[i].AuthorReference)
	}
	for i := range task.Input {
		if v := task.Input[i].ValueReference; v != nil {
			if u, ok := docURL[str(v.Reference)]; ok {
				v.Reference = ptr(u)
			}
		}
	}
	task.Output = nil // outputs are the receiver's to write

	var entries []fhir.BundleEntry
	add := func(url, typ string, res any, cond string) error {
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("mapping: transaction %s: %w", typ, err)
		}
		req := &fhir.BundleEntryRequest{Method: fhir.HTTPVerbPOST, Url: typ}
		if cond != "" {
			req.IfNoneExist = ptr(cond)
		}
		entries = append(entries, fhir.BundleEntry{FullUrl: ptr(url), Resource: b, Request: req})
		return nil
	}
	if err := add(srURL, "ServiceRequest", srRes, ifNoneExist); err != nil {
		return nil, err
	}
	if err := add(taskURL, "Task", task, ifNoneExist); err != nil {
		return nil, err
	}
	for _, rc := range records {
		d, err := NewDocumentReference(r, rc.Record)
		if err != nil {
			return nil, err
		}
		d.Id = nil
		d.Content[0].Attachment.Url = ptr(binURL["Binary/"+rc.ID])
		// A resend finds the record's resources too: the DocumentReference
		// by an identifier, the Binary (which has no identifier element) by
		// a tag, both the delivery id and the record id.
		recKey := deliveryID + "/" + rc.ID
		d.Identifier = append(d.Identifier, fhir.Identifier{System: ptr(SystemDelivery), Value: ptr(recKey)})
		if err := add(docURL["DocumentReference/"+rc.ID], "DocumentReference", d, "identifier="+SystemDelivery+"|"+recKey); err != nil {
			return nil, err
		}
		bin := NewBinary(rc)
		bin.Id = nil
		bin.Meta = &fhir.Meta{Tag: []fhir.Coding{{System: ptr(SystemDelivery), Code: ptr(recKey)}}}
		if err := add(binURL["Binary/"+rc.ID], "Binary", bin, "_tag="+SystemDelivery+"|"+recKey); err != nil {
			return nil, err
		}
	}
	b := fhir.Bundle{Type: fhir.BundleTypeTransaction, Entry: entries}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("mapping: marshal transaction: %w", err)
	}
	return out, nil
}

// pushServiceRequest renders the ServiceRequest of a referral that has no
// kept order (one created through the core, not FHIR).
func pushServiceRequest(r *gateway.Referral, deliveryIdent fhir.Identifier, docURL map[string]string) (*ServiceRequest, error) {
	sr, err := NewServiceRequest(r)
	if err != nil {
		return nil, err
	}
	sr.Id, sr.Meta = nil, pushMeta(sr.Meta)
	sr.Identifier = append(sr.Identifier, deliveryIdent)
	sr.Requester = logical(sr.Requester)
	for i := range sr.Performer {
		sr.Performer[i] = *logical(&sr.Performer[i])
	}
	for i := range sr.SupportingInfo {
		if u, ok := docURL[str(sr.SupportingInfo[i].Reference)]; ok {
			sr.SupportingInfo[i] = fhir.Reference{Reference: ptr(u), Type: ptr("DocumentReference")}
		}
	}
	if len(sr.Replaces) > 0 { // the replaced order lives on our side only
		sr.Replaces = nil
	}
	return sr, nil
}

// Ids of the resources the gateway contains in a pushed order for the
// parts of the referral its requester sent as separate resources.
const (
	pushedPatient   = "rgw-patient"
	pushedRequester = "rgw-requester"
	pushedConsent   = "rgw-consent"
)

// pushOrder renders the requester's kept ServiceRequest for the push.
func pushOrder(r *gateway.Referral, order []byte, deliveryIdent fhir.Identifier, docURL map[string]string) (map[string]any, error) {
	need := map[string]bool{}
	res, err := openOrder(order, func(part string) (string, bool) {
		if typ, i, ok := recordIndex(part); ok {
			if i < len(r.Records) && typ == "DocumentReference" {
				u, ok := docURL["DocumentReference/"+r.Records[i].ID]
				return u, ok
			}
			return "", false
		}
		need[part] = true
		switch part {
		case "Patient":
			return "#" + pushedPatient, true
		case "Practitioner":
			return "#" + pushedRequester, true
		case "Consent":
			return "#" + pushedConsent, true
		}
		return "", false
	})
	if err != nil {
		return nil, err
	}
	// Directory parties become logical references: the receiver's server
	// does not hold our directory.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["reference"].(string); ok {
				if l := logical(&fhir.Reference{Reference: &ref}); l.Reference == nil {
					delete(x, "reference")
					x["type"] = str(l.Type)
					x["identifier"] = map[string]any{"system": str(l.Identifier.System), "value": str(l.Identifier.Value)}
				}
			}
			for k, val := range x {
				if k != "contained" {
					walk(val)
				}
			}
		case []any:
			for _, item := range x {
				walk(item)
			}
		}
	}
	walk(res)
	delete(res, "id")
	res["status"] = ServiceRequestStatus(r.Status)
	if m, _ := res["meta"].(map[string]any); m != nil {
		delete(m, "versionId")
		delete(m, "lastUpdated")
		if len(m) == 0 {
			delete(res, "meta")
		}
	}
	ids, _ := res["identifier"].([]any)
	res["identifier"] = append(ids, map[string]any{"system": str(deliveryIdent.System), "value": str(deliveryIdent.Value)})
	contained, _ := res["contained"].([]any)
	addContained := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("mapping: push order: %w", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("mapping: push order: %w", err)
		}
		contained = append(contained, m)
		return nil
	}
	if need["Patient"] || need["Consent"] {
		if err := addContained(NewPatient(r.Patient, pushedPatient)); err != nil {
			return nil, err
		}
	}
	if need["Practitioner"] {
		if p := NewPractitioner(r.Requester, pushedRequester); p != nil {
			if err := addContained(p); err != nil {
				return nil, err
			}
		}
	}
	if need["Consent"] {
		c, err := NewConsent(r, pushedConsent)
		if err != nil {
			return nil, err
		}
		c.Patient = &fhir.Reference{Reference: ptr("#" + pushedPatient)}
		if err := addContained(c); err != nil {
			return nil, err
		}
	}
	if len(contained) > 0 {
		res["contained"] = contained
	}
	return res, nil
}

// pushMeta keeps only the security labels: version and update time are the
// receiving server's to assign.
func pushMeta(m *fhir.Meta) *fhir.Meta {
	if m == nil || len(m.Security) == 0 {
		return nil
	}
	return &fhir.Meta{Security: m.Security}
}

// logical turns a reference to a directory party ("Organization/x") into a
// logical reference by directory identifier; other references are kept.
func logical(r *fhir.Reference) *fhir.Reference {
	if r == nil {
		return nil
	}
	typ, id, ok := strings.Cut(str(r.Reference), "/")
	if !ok || (typ != "Organization" && typ != "Practitioner" && typ != "PractitionerRole") || strings.HasPrefix(typ, "urn:") {
		return r
	}
	return &fhir.Reference{Type: ptr(typ), Identifier: &fhir.Identifier{System: ptr(SystemDirectory), Value: ptr(id)}, Display: r.Display}
}

// derivedUUID is a stable name-based UUID (SHA-256, version 8) for a
// transaction entry's fullUrl, so a resend renders the same Bundle.
func derivedUUID(kind, id string) string {
	h := sha256.Sum256([]byte("referralgw/" + kind + "/" + id))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
