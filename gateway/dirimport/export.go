package dirimport

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// exportPage is how many entries ExportFHIR reads per store call.
const exportPage = 500

// ExportFHIR writes the whole directory as a FHIR R4 Bundle of type
// collection: organizations as Organization, locations as Location,
// practitioners as PractitionerRole (the practitioner by display name and
// NPI identifier), and each Direct address or FHIR base URL as an Endpoint
// they reference. Vendor entries are left out. FHIRBundle reads the result
// back into the same entries.
func ExportFHIR(ctx context.Context, svc *gateway.Service, w io.Writer) error {
	b := fhirBundle{ResourceType: "Bundle", Type: "collection",
		Timestamp: svc.Clock().Now().UTC().Format(time.RFC3339)}
	var all []*gateway.Entry
	q := gateway.EntryQuery{Limit: exportPage}
	for {
		page, err := svc.ListEntries(ctx, q)
		if err != nil {
			return fmt.Errorf("dirimport: export: list entries: %w", err)
		}
		all = append(all, page...)
		if len(page) < exportPage {
			break
		}
		q.AfterID = page[len(page)-1].ID
	}
	kinds := make(map[string]gateway.EntryKind, len(all))
	for _, e := range all {
		kinds[e.ID] = e.Kind
	}
	for _, e := range all {
		res, err := exportEntry(e, kinds[e.ParentID])
		if err != nil {
			return fmt.Errorf("dirimport: export entry %s: %w", e.ID, err)
		}
		for _, r := range res {
			b.Entry = append(b.Entry, bundleEntry{Resource: r})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		return fmt.Errorf("dirimport: export: write: %w", err)
	}
	return nil
}

// exportEntry renders one entry and its endpoints as resources; parentKind
// is the kind of its parent entry.
func exportEntry(e *gateway.Entry, parentKind gateway.EntryKind) ([]json.RawMessage, error) {
	res := fhirResource{ID: e.ID}
	var endpoints []fhirResource
	if e.Direct != nil {
		endpoints = append(endpoints, endpointResource(entryID(e.ID+"-direct"), codeDirect, "mailto:"+e.Direct.Address))
	}
	if e.FHIR != nil && e.FHIR.BaseURL != "" {
		endpoints = append(endpoints, endpointResource(entryID(e.ID+"-fhir"), codeFHIRRest, e.FHIR.BaseURL))
	}
	for _, ep := range endpoints {
		res.Endpoint = append(res.Endpoint, fhirReference{Reference: "Endpoint/" + ep.ID})
	}
	// A parent is an Organization, or a Location (Location.partOf,
	// PractitionerRole.location).
	var parentOrg, parentLoc *fhirReference
	switch {
	case e.ParentID == "":
	case parentKind == gateway.KindLocation:
		parentLoc = &fhirReference{Reference: "Location/" + e.ParentID}
	default:
		parentOrg = &fhirReference{Reference: "Organization/" + e.ParentID}
	}
	var err error
	switch e.Kind {
	case gateway.KindOrganization:
		res.ResourceType = "Organization"
		res.Name, err = json.Marshal(e.Name)
		res.PartOf = parentOrg
		if parentLoc != nil {
			res.PartOf = parentLoc // not valid FHIR, but the directory allows it
		}
		res.Identifier = npiIdentifiers(e.NPI)
	case gateway.KindLocation:
		res.ResourceType = "Location"
		res.Name, err = json.Marshal(e.Name)
		res.ManagingOrganization, res.PartOf = parentOrg, parentLoc
		res.Identifier = npiIdentifiers(e.NPI)
	case gateway.KindPractitioner:
		res.ResourceType = "PractitionerRole"
		res.Practitioner = &fhirReference{Display: e.Name}
		if e.NPI != "" {
			res.Practitioner.Identifier = &fhirIdentifier{System: npiSystem, Value: e.NPI}
		}
		res.Organization = parentOrg
		if parentLoc != nil {
			res.Location = []fhirReference{*parentLoc}
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, 1+len(endpoints))
	for _, r := range append([]fhirResource{res}, endpoints...) {
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

func npiIdentifiers(npi string) []fhirIdentifier {
	if npi == "" {
		return nil
	}
	return []fhirIdentifier{{System: npiSystem, Value: npi}}
}

// endpointResource is an active R4 Endpoint; payloadType is required by R4.
func endpointResource(id, code, address string) fhirResource {
	ct, _ := json.Marshal(fhirCoding{System: connectionTypeSystem, Code: code})
	return fhirResource{ResourceType: "Endpoint", ID: id, Status: "active", ConnectionType: ct, Address: address,
		PayloadType: []fhirConcept{{Coding: []fhirCoding{{System: "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", Code: "any"}}}}}
}
