package api

import (
	"fmt"
	"net/http"
)

// capabilityStatement is our own small struct: the generated type marshals
// required-looking zero values for elements this server does not use.
type capabilityStatement struct {
	ResourceType   string            `json:"resourceType"`
	Status         string            `json:"status"`
	Date           string            `json:"date"`
	Publisher      string            `json:"publisher,omitempty"`
	Kind           string            `json:"kind"`
	Software       *csSoftware       `json:"software,omitempty"`
	Implementation *csImplementation `json:"implementation,omitempty"`
	FHIRVersion    string            `json:"fhirVersion"`
	Format         []string          `json:"format"`
	PatchFormat    []string          `json:"patchFormat,omitempty"`
	Rest           []csRest          `json:"rest"`
}

type csSoftware struct {
	Name string `json:"name"`
}

type csImplementation struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

type csRest struct {
	Mode        string          `json:"mode"`
	Security    *csSecurity     `json:"security,omitempty"`
	Resource    []csResource    `json:"resource"`
	Interaction []csInteraction `json:"interaction,omitempty"`
}

type csSecurity struct {
	Extension   []csExtension     `json:"extension,omitempty"`
	Service     []codeableConcept `json:"service"`
	Description string            `json:"description"`
}

type csExtension struct {
	URL       string        `json:"url"`
	Extension []csExtension `json:"extension,omitempty"`
	ValueURI  string        `json:"valueUri,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type csResource struct {
	Type              string          `json:"type"`
	Documentation     string          `json:"documentation,omitempty"`
	Interaction       []csInteraction `json:"interaction"`
	Versioning        string          `json:"versioning,omitempty"`
	ReadHistory       *bool           `json:"readHistory,omitempty"`
	UpdateCreate      *bool           `json:"updateCreate,omitempty"`
	ConditionalCreate *bool           `json:"conditionalCreate,omitempty"`
	ConditionalUpdate *bool           `json:"conditionalUpdate,omitempty"`
	ConditionalDelete string          `json:"conditionalDelete,omitempty"`
	SearchInclude     []string        `json:"searchInclude,omitempty"`
	SearchParam       []csSearchParam `json:"searchParam,omitempty"`
}

type csInteraction struct {
	Code string `json:"code"`
}

type csSearchParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

func interactions(codes ...string) []csInteraction {
	out := make([]csInteraction, len(codes))
	for i, c := range codes {
		out[i] = csInteraction{Code: c}
	}
	return out
}

// capability describes what this handler actually implements; keep it in
// step with New's routes and searchParams.
func (h *Handler) capability() capabilityStatement {
	yes, no := true, false
	sec := &csSecurity{
		Service:     []codeableConcept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/restful-security-service", Code: "SMART-on-FHIR"}}}},
		Description: "SMART Backend Services: OAuth 2.0 client credentials with a signed JWT assertion; system scopes per resource type. A client sees only referrals its organisation requested or receives.",
	}
	if h.cfg.TokenURL != "" {
		sec.Extension = []csExtension{{URL: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
			Extension: []csExtension{{URL: "token", ValueURI: h.cfg.TokenURL}}}}
	}
	return capabilityStatement{
		ResourceType: "CapabilityStatement",
		Status:       "active",
		Date:         "2026-03-01",
		Kind:         "instance",
		Software:     &csSoftware{Name: "referral gateway"},
		Implementation: &csImplementation{Description: "Referral gateway FHIR API: referrals as Task + ServiceRequest",
			URL: h.cfg.BaseURL},
		FHIRVersion: "4.0.1",
		Format:      []string{"application/fhir+json"},
		PatchFormat: []string{"application/json-patch+json"},
		Rest: []csRest{{
			Mode:     "server",
			Security: sec,
			Resource: []csResource{
				{
					Type: "Task",
					Documentation: "A referral's workflow; status is its lifecycle (draft, requested, received, accepted, rejected, on-hold, in-progress, completed, cancelled, failed). " +
						"R4 moves outside it are refused: in-progress → on-hold and → failed (failed is the gateway's: no channel could deliver). " +
						"An update changes only status, statusReason, businessStatus, note, output and executionPeriod.end; anything else is refused with 422 naming the element. " +
						"Completion needs Task.output typed http://loinc.org|11488-4 (Consult note). Searches ignore unknown parameters (reported in an OperationOutcome entry) unless Prefer: handling=strict; " +
						"_summary=count, _elements, _pretty and _format=json are supported. Each parameter is given once (comma-separated values match any); only _lastUpdated may repeat. History (newest first) takes _count and _since and pages with next. " +
						"A conditional create (If-None-Exist: identifier=[system|]value) searches before it creates: it needs system/Task.s besides system/Task.c, and a match is answered with the Task only with system/Task.r. " +
						"If-Match takes W/\"n\", a list or *, and is checked before the body (412); it is optional.",
					Interaction:       interactions("read", "vread", "update", "patch", "history-instance", "create", "search-type"),
					Versioning:        "versioned-update",
					ReadHistory:       &yes,
					UpdateCreate:      &no,
					ConditionalCreate: &yes,
					ConditionalUpdate: &no,
					ConditionalDelete: "not-supported",
					SearchInclude:     []string{"Task:focus"},
					SearchParam: []csSearchParam{
						{Name: "_id", Type: "token"},
						{Name: "identifier", Type: "token", Documentation: "the requester's business identifier: system|value, |value (no system: matches nothing, every Task identifier has one) or value (any system)"},
						{Name: "owner", Type: "reference"},
						{Name: "requester", Type: "reference"},
						{Name: "status", Type: "token", Documentation: "code, or http://hl7.org/fhir/task-status|code; comma-separated values match any"},
						{Name: "business-status", Type: "token", Documentation: "exact match on businessStatus.text; a system given matches nothing"},
						{Name: "patient", Type: "reference", Documentation: "by the patient's identifier, as patient:identifier=system|value (that system only), |value (no system) or value (any system); patient=[system|]value reads the same way"},
						{Name: "focus", Type: "reference"},
						{Name: "_lastUpdated", Type: "date", Documentation: "prefixes eq, ge, gt, le, lt"},
						{Name: "_count", Type: "number", Documentation: fmt.Sprintf("page size, at most %d; 0 answers the total only, as _summary=count", h.cfg.MaxCount)},
						{Name: "_cursor", Type: "string", Documentation: "keyset paging cursor; follow Bundle.link next"},
					},
				},
				{
					Type:          "Patient",
					Documentation: "read only, at a referral's id: the patient as the referral carries it (a transaction's Patient entry). Needs system/Patient.r.",
					Interaction:   interactions("read"),
				},
				{
					Type:          "Practitioner",
					Documentation: "read only, at a referral's id: the referring practitioner (a transaction's Practitioner entry), when the referral names one. Needs system/Practitioner.r.",
					Interaction:   interactions("read"),
				},
				{
					Type:          "Consent",
					Documentation: "read only, at a referral's id: the disclosure basis the referral claims (a transaction's Consent entry). Needs system/Consent.r.",
					Interaction:   interactions("read"),
				},
				{
					Type:              "ServiceRequest",
					Documentation:     "create makes a draft referral of the client's organisation (Patient, Practitioner, Consent and DocumentReferences contained); a later Task create whose focus is ServiceRequest/<id> with status requested submits it. A conditional create needs system/ServiceRequest.s besides .c.",
					Interaction:       interactions("read", "vread", "create"),
					Versioning:        "versioned",
					ConditionalCreate: &yes,
				},
				{
					Type:          "DocumentReference",
					Documentation: "read only: the records a referral carries (Task.input, ServiceRequest.supportingInfo) and the receiver's consult note, to the organisations the referral involves; content is the Binary of the same id. Needs system/DocumentReference.r.",
					Interaction:   interactions("read"),
				},
				{
					Type:          "Binary",
					Documentation: "read only: a record's content, decrypted from the store; as a Binary resource, or as the document itself when Accept names its media type. Needs system/Binary.r.",
					Interaction:   interactions("read"),
				},
				{
					Type:              "Subscription",
					Documentation:     "R4 rest-hook subscriptions to the client's own Tasks: criteria Task?owner=Organization/<own organisation> or Task?requester=Organization/<own organisation>; one notification per Task version, in the R4 core rest-hook form: with channel.payload application/fhir+json the Task PUT to [endpoint]/Task/[id], without a payload a POST with no body to the endpoint (also the handshake of a requested subscription). The Subscriptions R5 Backport profile is not supported. Needs system/Task.s, and system/Task.r with a payload. A failing endpoint goes to status error after repeated attempts; set status requested to resume. Only the current version is kept: vread answers it (the Location of a create or update) and 404 for any other version.",
					Interaction:       interactions("read", "vread", "update", "delete", "create", "search-type"),
					Versioning:        "versioned-update",
					UpdateCreate:      &no,
					ConditionalCreate: &no,
					ConditionalUpdate: &no,
					ConditionalDelete: "not-supported",
					SearchParam: []csSearchParam{
						{Name: "_id", Type: "token"},
						{Name: "status", Type: "token", Documentation: "requested, active, error or off; only the client's own subscriptions are found"},
						{Name: "criteria", Type: "string", Documentation: "exact match on the criteria, Organization/ prefix optional"},
						{Name: "type", Type: "token", Documentation: "always rest-hook"},
						{Name: "url", Type: "uri", Documentation: "exact match on channel.endpoint"},
						{Name: "payload", Type: "token", Documentation: "application/fhir+json"},
						{Name: "_count", Type: "number", Documentation: fmt.Sprintf("page size, at most %d; 0 answers the total only", h.cfg.MaxCount)},
						{Name: "_cursor", Type: "string", Documentation: "keyset paging cursor; follow Bundle.link next"},
					},
				},
			},
			Interaction: interactions("transaction"),
		}},
	}
}

func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	if err := acceptable(r, false); err != nil {
		status, oo := outcomeFor(err, opRead)
		writeJSON(w, status, oo, nil)
		return
	}
	rw := &responseWriter{ResponseWriter: w, pretty: r.URL.Query().Get(paramPretty) == "true"}
	defer rw.finish()
	writeJSON(rw, http.StatusOK, h.capability(), nil)
}
