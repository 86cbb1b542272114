package gateway

import (
	"fmt"
	"strings"
)

// evidence is what the send gates found, as audit detail: the rule the
// consent basis rests on, the consent records relied on, the BAA state of
// every party a send passes through, and the minimum-necessary verdict.
// It is metadata only (ids, states, citations), never PHI, and it is what
// a compliance receipt is later assembled from.
type evidence map[string]string

// recordBAA notes the BAA that gated role ("receiver", "fax vendor").
func (e evidence) recordBAA(role string, b *BAA, state BAAState) {
	if e == nil {
		return
	}
	key := "baa." + strings.ReplaceAll(role, " ", "-")
	e[key] = fmt.Sprintf("%s %s %s", b.PartyID, b.ID, state)
}

// ConsentRule names the regulation a referral's disclosure rests on: the
// claimed basis, plus the extra authorization psychotherapy notes need and
// the Part 2 consent substance-use-disorder records need.
func ConsentRule(r *Referral) string {
	var rules []string
	switch r.Consent.Kind {
	case ConsentTreatment:
		rules = append(rules, "45 CFR 164.506(c)")
	case ConsentAuthorization:
		rules = append(rules, "45 CFR 164.508")
	case ConsentRequiredByLaw:
		rule := "45 CFR 164.512"
		if c := strings.TrimSpace(r.Consent.Citation); c != "" {
			rule += " (" + c + ")"
		}
		rules = append(rules, rule)
	case ConsentPart2:
		rules = append(rules, "42 CFR 2.31")
	}
	if r.Sensitive.PsychotherapyNotes && r.Consent.Kind != ConsentAuthorization {
		rules = append(rules, "45 CFR 164.508(a)(2)")
	}
	if r.Sensitive.Part2 && r.Consent.Kind != ConsentPart2 {
		rules = append(rules, "42 CFR 2.31")
	}
	return strings.Join(rules, "; ")
}

// Part2Notice is the regulation whose redisclosure notice travels with
// 42 CFR Part 2 records; it is empty for other referrals.
func Part2Notice(r *Referral) string {
	if r.Sensitive.Part2 || r.Consent.Kind == ConsentPart2 {
		return "42 CFR 2.32"
	}
	return ""
}

// consentEvidence records the consent basis, its rule and the records on
// file that satisfied it.
func (e evidence) consentEvidence(r *Referral, records []string) {
	purpose := r.Consent.Purpose
	if purpose == "" {
		purpose = "treatment"
	}
	e["basis"] = string(r.Consent.Kind)
	e["rule"] = ConsentRule(r)
	e["purpose"] = purpose
	if len(records) > 0 {
		e["consentRecords"] = strings.Join(records, ",")
	}
	if n := Part2Notice(r); n != "" {
		e["part2Notice"] = n
	}
}

// pick returns the keys of e that are set, as a new detail map.
func pick(e evidence, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := e[k]; ok {
			out[k] = v
		}
	}
	return out
}

// withPrefix adds to detail every key of e that starts with prefix.
func withPrefix(e evidence, prefix string, detail map[string]string) map[string]string {
	for k, v := range e {
		if strings.HasPrefix(k, prefix) {
			detail[k] = v
		}
	}
	return detail
}

// recordIDs lists the ids of the records a send carries, comma-separated.
func recordIDs(records []RecordContent) string {
	ids := make([]string, len(records))
	for i, rc := range records {
		ids[i] = rc.ID
	}
	return strings.Join(ids, ",")
}

// consentScope records what the consents relied on allow: recipients and
// purposes. Their dates stay out: a date tied to the patient is PHI, and
// the trail holds metadata only; the consent id leads to the record.
func (e evidence) consentScope(used []string, onFile []ConsentRecord) {
	var parts []string
	for _, id := range used {
		for _, rec := range onFile {
			if rec.ID != id {
				continue
			}
			recipients := "any treating provider"
			if len(rec.Recipients) > 0 {
				recipients = strings.Join(rec.Recipients, ",")
			}
			purposes := "any"
			if len(rec.Purposes) > 0 {
				purposes = strings.Join(rec.Purposes, ",")
			}
			parts = append(parts, fmt.Sprintf("%s %s: recipients %s, purposes %s", rec.Kind, rec.ID, recipients, purposes))
		}
	}
	if len(parts) > 0 {
		e["consentScope"] = strings.Join(parts, "; ")
	}
}
