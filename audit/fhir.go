package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Code systems and identifier systems used in exported AuditEvents.
const (
	SystemAction     = "urn:referralgw:audit-action" // AuditEvent.subtype: our Action string
	SystemReferral   = "urn:referralgw:referral"     // entity.what.identifier: the referral id
	SystemActor      = "urn:referralgw:actor"        // agent.who.identifier: the Actor string
	SystemAuditEntry = "urn:referralgw:audit-entry"  // entity.what.identifier: "tenant/seq" of the chain entry

	systemDICOM      = "http://dicom.nema.org/resources/ontology/DCM"
	systemEntityType = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemSourceType = "http://terminology.hl7.org/CodeSystem/security-source-type"
)

// DefaultSourceObserver names the observer when ExportOptions.SourceObserver is empty.
const DefaultSourceObserver = "referral-gateway"

// ExportOptions describes the Bundle that ExportFHIR writes.
type ExportOptions struct {
	BundleID       string    // Bundle.id; omitted when empty, an error when not a valid FHIR id
	Generated      time.Time // Bundle.timestamp; omitted when zero
	SourceObserver string    // AuditEvent.source.observer.display, e.g. "referral-gateway"; DefaultSourceObserver when empty
	// Checkpoints are the latest witnessed checkpoint of each tenant: an
	// entry inside one carries it (entity detail "checkpoint", the signed
	// note), so an auditor can check the entry's inclusion offline.
	Checkpoints map[string]TreeHead
}

// validID reports whether s obeys the FHIR R4 id rule [A-Za-z0-9\-\.]{1,64}.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// ExportFHIR writes a FHIR R4 Bundle (type "collection") of AuditEvent resources, one per entry, as JSON.
//
// It streams: each entry is written as it is read, so a trail of any length
// uses constant memory. It returns the number of AuditEvents written. On error
// the output is incomplete JSON and must be discarded.
//
// Mapping: type is DICOM 110114 "User Authentication" for "auth.*" actions and
// DICOM 110100 "Application Activity" otherwise; subtype is the action; action
// is derived from the action's last dot-separated word (see ActionCode);
// outcome is 0 (success), 4 (refused) or 8 (failure); agent.who names the
// Actor, requestor unless the actor is the system; entities carry the referral,
// the Detail pairs (pairs with an empty key or value are left out, FHIR has no
// empty strings) and the chain position, including the base64 canonical
// encoding so an auditor can recompute Hash from the export alone.
func ExportFHIR(w io.Writer, entries iter.Seq2[Entry, error], opts ExportOptions) (int, error) {
	if opts.BundleID != "" && !validID(opts.BundleID) {
		return 0, fmt.Errorf("audit: export fhir: bundle id %q is not a valid FHIR id", opts.BundleID)
	}
	observer := opts.SourceObserver
	if observer == "" {
		observer = DefaultSourceObserver
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("{\n  \"resourceType\": \"Bundle\",\n")
	if opts.BundleID != "" {
		fmt.Fprintf(bw, "  \"id\": %s,\n", jsonString(opts.BundleID))
	}
	bw.WriteString("  \"type\": \"collection\"")
	if !opts.Generated.IsZero() {
		fmt.Fprintf(bw, ",\n  \"timestamp\": %s", jsonString(formatTime(opts.Generated)))
	}
	n := 0
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("      ", "  ")
	if entries != nil {
		for e, err := range entries {
			if err != nil {
				return n, fmt.Errorf("audit: export fhir: read entry %d: %w", n+1, err)
			}
			buf.Reset()
			ae := toAuditEvent(e, observer)
			if h, ok := opts.Checkpoints[e.Tenant]; ok && e.Seq >= 1 && uint64(e.Seq) <= h.Size {
				last := &ae.Entity[len(ae.Entity)-1]
				last.Detail = append(last.Detail, entityDetail{Type: "checkpoint", ValueString: string(h.Note)})
			}
			if err := enc.Encode(ae); err != nil {
				return n, fmt.Errorf("audit: export fhir: encode %s seq %d: %w", e.Tenant, e.Seq, err)
			}
			if n == 0 {
				bw.WriteString(",\n  \"entry\": [\n")
			} else {
				bw.WriteString(",\n")
			}
			bw.WriteString("    {\n      \"resource\": ")
			bw.Write(bytes.TrimRight(buf.Bytes(), "\n"))
			bw.WriteString("\n    }")
			n++
			if bw.Buffered() > 64<<10 {
				if err := bw.Flush(); err != nil {
					return n, fmt.Errorf("audit: export fhir: write: %w", err)
				}
			}
		}
	}
	if n > 0 {
		bw.WriteString("\n  ]")
	}
	bw.WriteString("\n}\n")
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("audit: export fhir: write: %w", err)
	}
	return n, nil
}

// ResourceID is the AuditEvent id of the entry (tenant, seq): tenant + "-" + seq
// when that is a valid FHIR id, else "t" + the first 32 hex digits of the
// tenant's SHA-256 + "-" + seq.
func ResourceID(tenant string, seq int64) string {
	id := tenant + "-" + strconv.FormatInt(seq, 10)
	if validID(id) {
		return id
	}
	sum := sha256.Sum256([]byte(tenant))
	return "t" + hex.EncodeToString(sum[:16]) + "-" + strconv.FormatInt(seq, 10)
}

// ActionCode maps an action such as "referral.created" to the FHIR
// AuditEvent.action code by its last word: C(reate), R(ead), U(pdate),
// D(elete), or E(xecute) for anything else ("delivery.sent", "consent.checked").
func ActionCode(action string) string {
	verb := strings.ToLower(action[strings.LastIndexByte(action, '.')+1:])
	switch verb {
	case "created", "added", "imported", "registered", "captured", "uploaded":
		return "C"
	case "read", "viewed", "fetched", "searched", "queried", "listed", "exported", "downloaded":
		return "R"
	case "updated", "changed", "edited", "transition", "received", "accepted", "rejected", "declined",
		"requested", "answered", "held", "started", "completed", "closed", "cancelled", "replaced",
		"verified", "renewed", "terminated", "overridden":
		return "U"
	case "deleted", "removed", "purged", "revoked":
		return "D"
	}
	return "E"
}

// FHIR R4 AuditEvent, only the elements this package fills. Every optional
// element is omitempty so no empty string, array or object is written.
type auditEvent struct {
	ResourceType string   `json:"resourceType"`
	ID           string   `json:"id"`
	Type         coding   `json:"type"`
	Subtype      []coding `json:"subtype,omitempty"`
	Action       string   `json:"action,omitempty"`
	Recorded     string   `json:"recorded"`
	Outcome      string   `json:"outcome,omitempty"`
	OutcomeDesc  string   `json:"outcomeDesc,omitempty"`
	Agent        []agent  `json:"agent"`
	Source       source   `json:"source"`
	Entity       []entity `json:"entity,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type reference struct {
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type agent struct {
	Who       *reference `json:"who,omitempty"`
	Requestor bool       `json:"requestor"`
}

type source struct {
	Site     string    `json:"site,omitempty"`
	Observer reference `json:"observer"`
	Type     []coding  `json:"type,omitempty"`
}

type entity struct {
	What        *reference     `json:"what,omitempty"`
	Type        *coding        `json:"type,omitempty"`
	Name        string         `json:"name,omitempty"`
	Description string         `json:"description,omitempty"`
	Detail      []entityDetail `json:"detail,omitempty"`
}

type entityDetail struct {
	Type              string `json:"type"`
	ValueString       string `json:"valueString,omitempty"`
	ValueBase64Binary string `json:"valueBase64Binary,omitempty"`
}

// entityType is a code from the audit-entity-type system: "2" System Object or "4" Other.
func entityType(code string) *coding {
	display := "Other"
	if code == "2" {
		display = "System Object"
	}
	return &coding{System: systemEntityType, Code: code, Display: display}
}

func toAuditEvent(e Entry, observer string) auditEvent {
	ae := auditEvent{
		ResourceType: "AuditEvent",
		ID:           ResourceID(e.Tenant, e.Seq),
		Type:         coding{System: systemDICOM, Code: "110100", Display: "Application Activity"},
		Recorded:     formatTime(e.Time),
		OutcomeDesc:  outcomeDesc(e),
		Agent:        []agent{actorAgent(e.Actor)},
		Source: source{
			Site:     e.Tenant,
			Observer: reference{Display: observer},
			Type:     []coding{{System: systemSourceType, Code: "4", Display: "Application Server"}},
		},
	}
	if strings.HasPrefix(e.Action, "auth.") {
		ae.Type = coding{System: systemDICOM, Code: "110114", Display: "User Authentication"}
	}
	if code := fhirCode(e.Action); code != "" {
		ae.Subtype = []coding{{System: SystemAction, Code: code}}
		ae.Action = ActionCode(e.Action)
	}
	switch e.Outcome {
	case OutcomeSuccess:
		ae.Outcome = "0"
	case OutcomeRefused:
		ae.Outcome = "4"
	case OutcomeFailure:
		ae.Outcome = "8"
	}
	if e.ReferralID != "" {
		ae.Entity = append(ae.Entity, entity{
			What: &reference{Identifier: &identifier{System: SystemReferral, Value: e.ReferralID}},
			Type: entityType("2"),
			Name: "referral",
		})
	}
	if d := detailItems(e.Detail); len(d) > 0 {
		ae.Entity = append(ae.Entity, entity{
			Type:        entityType("4"),
			Name:        "event-detail",
			Description: "event metadata recorded with the audit entry",
			Detail:      d,
		})
	}
	ae.Entity = append(ae.Entity, chainEntity(e))
	return ae
}

func actorAgent(actor string) agent {
	if actor == "" {
		return agent{Who: &reference{Display: "unknown"}}
	}
	return agent{
		Who:       &reference{Identifier: &identifier{System: SystemActor, Value: actor}, Display: actor},
		Requestor: actor != "system" && !strings.HasPrefix(actor, "system:"),
	}
}

func outcomeDesc(e Entry) string {
	if r := e.Detail["reason"]; r != "" && e.Outcome != "" {
		return e.Outcome + ": " + r
	}
	return e.Outcome
}

func detailItems(d map[string]string) []entityDetail {
	items := make([]entityDetail, 0, len(d))
	for k, v := range d {
		if k != "" && v != "" {
			items = append(items, entityDetail{Type: k, ValueString: v})
		}
	}
	slices.SortFunc(items, func(a, b entityDetail) int { return strings.Compare(a.Type, b.Type) })
	return items
}

// chainEntity carries what an auditor needs to re-verify the entry: its
// position, both hashes and the exact bytes that were hashed.
func chainEntity(e Entry) entity {
	d := []entityDetail{}
	add := func(k, v string) {
		if v != "" {
			d = append(d, entityDetail{Type: k, ValueString: v})
		}
	}
	add("tenant", e.Tenant)
	add("seq", strconv.FormatInt(e.Seq, 10))
	add("leafIndex", strconv.FormatInt(e.Seq-1, 10))
	add("hash", e.Hash)
	add("prevHash", e.PrevHash)
	d = append(d, entityDetail{Type: "canonical", ValueBase64Binary: base64.StdEncoding.EncodeToString(e.AppendCanonical(nil))})
	return entity{
		What: &reference{Identifier: &identifier{
			System: SystemAuditEntry,
			Value:  e.Tenant + "/" + strconv.FormatInt(e.Seq, 10),
		}},
		Type:        entityType("4"),
		Name:        "audit-chain",
		Description: "position of this entry in the tenant's hash chain",
		Detail:      d,
	}
}

// fhirCode normalises s to the FHIR code rule: no leading, trailing or repeated whitespace.
func fhirCode(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimRight(b.String(), "\n")
}
