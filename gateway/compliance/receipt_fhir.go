package compliance

import (
	"encoding/json"
	"io"
	"slices"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// WriteReceiptFHIR writes rc as a FHIR R4 Bundle (type collection): one
// Provenance whose target is the referral's Task and whose entities are
// the cited AuditEvents, followed by those AuditEvents as the audit
// package exports them (resource ids practice-seq). entries are the
// referral's trail entries (gateway.Service.AuditEntries filtered by
// referral); only the cited ones are included.
func WriteReceiptFHIR(w io.Writer, rc *gateway.ComplianceReceipt, entries []audit.Entry) error {
	cited := map[string]bool{}
	var agents []string
	for _, l := range rc.Lines {
		for _, c := range l.Cites {
			cited[audit.ResourceID(c.Practice, c.Seq)] = true
		}
		if !slices.Contains(agents, l.Actor) {
			agents = append(agents, l.Actor)
		}
	}
	var keep []audit.Entry
	for _, e := range entries {
		if cited[audit.ResourceID(e.Tenant, e.Seq)] {
			keep = append(keep, e)
		}
	}
	// The audit package writes AuditEvents as a Bundle; take its entries.
	var events struct {
		Entry []json.RawMessage `json:"entry"`
	}
	pr, pw := io.Pipe()
	go func() {
		seq := func(yield func(audit.Entry, error) bool) {
			for _, e := range keep {
				if !yield(e, nil) {
					return
				}
			}
		}
		_, err := audit.ExportFHIR(pw, seq, audit.ExportOptions{})
		pw.CloseWithError(err)
	}()
	if err := json.NewDecoder(pr).Decode(&events); err != nil {
		return err
	}

	type ref struct {
		Reference string `json:"reference,omitempty"`
		Display   string `json:"display,omitempty"`
	}
	type agent struct {
		Who ref `json:"who"`
	}
	type entity struct {
		Role string `json:"role"`
		What ref    `json:"what"`
	}
	prov := map[string]any{
		"resourceType": "Provenance",
		"id":           "receipt-" + rc.ReferralID,
		"target":       []ref{{Reference: "Task/" + rc.ReferralID}},
		"recorded":     rc.Generated.UTC().Format(time.RFC3339),
	}
	var as []agent
	for _, a := range agents {
		as = append(as, agent{Who: ref{Display: a}})
	}
	prov["agent"] = as
	var es []entity
	for _, e := range keep {
		es = append(es, entity{Role: "source", What: ref{Reference: "AuditEvent/" + audit.ResourceID(e.Tenant, e.Seq)}})
	}
	prov["entity"] = es

	bundle := map[string]any{
		"resourceType": "Bundle",
		"type":         "collection",
		"timestamp":    rc.Generated.UTC().Format(time.RFC3339),
	}
	entriesOut := []any{map[string]any{"fullUrl": "urn:uuid:receipt-" + rc.ReferralID, "resource": prov}}
	for _, raw := range events.Entry {
		entriesOut = append(entriesOut, raw)
	}
	bundle["entry"] = entriesOut
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(bundle)
}
