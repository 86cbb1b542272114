package dirimport

import (
	"encoding/json"
	"strings"
)

// The FHIR R4 JSON this package reads and writes: only the elements the
// directory needs, so unknown elements are ignored on the way in.

const (
	npiSystem            = "http://hl7.org/fhir/sid/us-npi"
	connectionTypeSystem = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
	codeDirect           = "direct-project"
	codeFHIRRest         = "hl7-fhir-rest"
)

type fhirBundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Type         string        `json:"type"`
	Timestamp    string        `json:"timestamp,omitempty"`
	Entry        []bundleEntry `json:"entry"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource"`
}

// fhirResource is the union of the resource types read; each resource
// uses its own subset of the fields.
type fhirResource struct {
	ResourceType         string           `json:"resourceType"`
	ID                   string           `json:"id,omitempty"`
	Identifier           []fhirIdentifier `json:"identifier,omitempty"`
	Active               *bool            `json:"active,omitempty"`
	Status               string           `json:"status,omitempty"` // Location, Endpoint
	Name                 json.RawMessage  `json:"name,omitempty"`   // a string, or HumanName[] for Practitioner
	PartOf               *fhirReference   `json:"partOf,omitempty"`
	ManagingOrganization *fhirReference   `json:"managingOrganization,omitempty"`
	Practitioner         *fhirReference   `json:"practitioner,omitempty"`
	Organization         *fhirReference   `json:"organization,omitempty"`
	Location             []fhirReference  `json:"location,omitempty"`
	Endpoint             []fhirReference  `json:"endpoint,omitempty"`
	ConnectionType       json.RawMessage  `json:"connectionType,omitempty"` // Coding in R4, CodeableConcept[] later
	PayloadType          []fhirConcept    `json:"payloadType,omitempty"`
	Address              string           `json:"address,omitempty"`
}

type fhirIdentifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type fhirReference struct {
	Reference  string          `json:"reference,omitempty"`
	Identifier *fhirIdentifier `json:"identifier,omitempty"`
	Display    string          `json:"display,omitempty"`
}

type fhirCoding struct {
	System string `json:"system,omitempty"`
	Code   string `json:"code,omitempty"`
}

type fhirConcept struct {
	Coding []fhirCoding `json:"coding,omitempty"`
	Text   string       `json:"text,omitempty"`
}

type fhirHumanName struct {
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Suffix []string `json:"suffix,omitempty"`
}

// npi returns the first NPI among ids.
func npiOf(ids []fhirIdentifier) string {
	for _, id := range ids {
		if id.System == npiSystem {
			return strings.TrimSpace(id.Value)
		}
	}
	return ""
}

// stringName reads a name element that is a plain string.
func stringName(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// humanName reads the first usable HumanName of a Practitioner.
func humanName(raw json.RawMessage) string {
	var names []fhirHumanName
	if json.Unmarshal(raw, &names) != nil {
		return ""
	}
	for _, n := range names {
		if t := strings.TrimSpace(n.Text); t != "" {
			return t
		}
		parts := append(append(append([]string{}, n.Prefix...), n.Given...), n.Family)
		parts = append(parts, n.Suffix...)
		if t := strings.TrimSpace(strings.Join(strings.Fields(strings.Join(parts, " ")), " ")); t != "" {
			return t
		}
	}
	return ""
}

// connectionCode reads Endpoint.connectionType, a Coding in R4 and a list
// of CodeableConcepts in R5, returning the code of the endpoint-connection
// -type system (or the first code when no system is given).
func connectionCode(raw json.RawMessage) string {
	var codings []fhirCoding
	var one fhirCoding
	var concepts []fhirConcept
	switch {
	case json.Unmarshal(raw, &one) == nil:
		codings = []fhirCoding{one}
	case json.Unmarshal(raw, &concepts) == nil:
		for _, c := range concepts {
			codings = append(codings, c.Coding...)
		}
	}
	for _, c := range codings {
		if c.System == connectionTypeSystem || c.System == "" {
			return c.Code
		}
	}
	return ""
}
