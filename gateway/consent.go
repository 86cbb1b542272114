package gateway

import (
	"fmt"
	"slices"
	"time"
)

// ConsentKind is the legal basis on which a referral discloses PHI.
type ConsentKind string

// The four consent bases of DOMAIN.md.
const (
	// ConsentTreatment is 45 CFR 164.506(c): provider-to-provider treatment,
	// documented, no signature needed.
	ConsentTreatment ConsentKind = "treatment"
	// ConsentAuthorization is 45 CFR 164.508: a signed authorization on file.
	ConsentAuthorization ConsentKind = "authorization"
	// ConsentRequiredByLaw is 45 CFR 164.512: a disclosure required by law,
	// with its citation recorded.
	ConsentRequiredByLaw ConsentKind = "required-by-law"
	// ConsentPart2 is 42 CFR Part 2: the patient's written consent for
	// substance-use-disorder records.
	ConsentPart2 ConsentKind = "part2"
)

// ConsentRef is the basis a referral claims.
type ConsentRef struct {
	Kind ConsentKind `json:"kind"`
	// Purpose of use, e.g. "treatment", "research", "legal"; defaults to treatment.
	Purpose string `json:"purpose,omitempty"`
	// Citation is the regulation a required-by-law disclosure rests on, e.g. "164.512(b)".
	Citation string `json:"citation,omitempty"`
	// ConsentID names the authorization or Part 2 consent on file, when the
	// referrer points at one; otherwise the gate looks one up by patient.
	ConsentID string `json:"consentId,omitempty"`
}

// ConsentRecord is a signed authorization or Part 2 consent on file for a
// patient of a practice.
type ConsentRecord struct {
	ID        string      `json:"id"`
	Tenant    string      `json:"tenant"`    // practice holding the record
	PatientID string      `json:"patientId"` //
	Kind      ConsentKind `json:"kind"`      // ConsentAuthorization or ConsentPart2
	Signed    time.Time   `json:"signed"`
	Expires   time.Time   `json:"expires,omitzero"` // zero: no expiry date (an event-based expiry is tracked by revocation)
	// Recipients the patient allowed (directory ids). An authorization must
	// name at least one; an empty list on a Part 2 consent is a general
	// designation of the patient's treating providers.
	Recipients []string  `json:"recipients,omitempty"`
	Purposes   []string  `json:"purposes,omitempty"` // purposes of use covered
	Revoked    time.Time `json:"revoked,omitzero"`
}

// consentCovers reports whether rec covers a disclosure to receiver (or one
// of its ancestors) for purpose.
func consentCovers(rec ConsentRecord, receiverChain []string, purpose string) string {
	if len(receiverChain) == 0 {
		return "no receiver to check the consent against"
	}
	// An authorization must name who receives the PHI (164.508(c)(1)(iii));
	// a Part 2 consent may use a general designation of treating providers.
	if rec.Kind == ConsentAuthorization && len(rec.Recipients) == 0 {
		return fmt.Sprintf("authorization %s names no recipient", rec.ID)
	}
	if len(rec.Recipients) > 0 {
		found := false
		for _, id := range receiverChain {
			if slices.Contains(rec.Recipients, id) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Sprintf("%s %s does not name recipient %s", rec.Kind, rec.ID, receiverChain[0])
		}
	}
	if len(rec.Purposes) > 0 && !slices.Contains(rec.Purposes, purpose) {
		return fmt.Sprintf("%s %s does not cover purpose %q", rec.Kind, rec.ID, purpose)
	}
	return ""
}

// CheckConsent evaluates the consent gate for a referral to receiverChain
// (the receiver's directory id followed by its ancestors) against the records
// on file for its patient. It returns nil when the basis is satisfied and a
// *ConsentError naming the gap otherwise.
func CheckConsent(r *Referral, receiverChain []string, onFile []ConsentRecord, now time.Time) error {
	_, err := checkConsent(r, receiverChain, onFile, now)
	return err
}

// checkConsent is CheckConsent that also returns the ids of the records on
// file the basis rests on.
func checkConsent(r *Referral, receiverChain []string, onFile []ConsentRecord, now time.Time) ([]string, error) {
	purpose := r.Consent.Purpose
	if purpose == "" {
		purpose = "treatment"
	}
	kind := r.Consent.Kind
	switch kind {
	case ConsentTreatment, ConsentAuthorization, ConsentRequiredByLaw, ConsentPart2:
	case "":
		return nil, &ConsentError{Basis: kind, Gap: "no consent basis given"}
	default:
		return nil, &ConsentError{Basis: kind, Gap: "unknown consent basis"}
	}
	// Psychotherapy notes and non-treatment purposes need an authorization
	// (164.508(a)(2)); Part 2 records need a Part 2 consent whatever the basis.
	needAuth := kind == ConsentAuthorization || r.Sensitive.PsychotherapyNotes || purpose != "treatment"
	if kind == ConsentRequiredByLaw {
		if r.Consent.Citation == "" {
			return nil, &ConsentError{Basis: kind, Gap: "citation of the law (e.g. 164.512(b)) not recorded"}
		}
		needAuth = r.Sensitive.PsychotherapyNotes
	}
	var used []string
	if needAuth {
		id, err := findValid(r, ConsentAuthorization, receiverChain, purpose, onFile, now)
		if err != nil {
			return nil, &ConsentError{Basis: kind, Gap: err.Error()}
		}
		used = append(used, id)
	}
	if r.Sensitive.Part2 || kind == ConsentPart2 {
		id, err := findValid(r, ConsentPart2, receiverChain, purpose, onFile, now)
		if err != nil {
			return nil, &ConsentError{Basis: kind, Gap: err.Error()}
		}
		used = append(used, id)
	}
	return used, nil
}

// findValid looks for a record of kind on file that is signed, unexpired,
// unrevoked and covers the recipient and purpose, and returns its id; the
// error names the best gap found.
func findValid(r *Referral, kind ConsentKind, chain []string, purpose string, onFile []ConsentRecord, now time.Time) (string, error) {
	label := "authorization"
	if kind == ConsentPart2 {
		label = "Part 2 consent"
	}
	var gap string
	for _, rec := range onFile {
		if rec.Kind != kind || rec.PatientID != r.Patient.ID || rec.Tenant != r.Requester.OrgID {
			continue
		}
		if r.Consent.ConsentID != "" && rec.ID != r.Consent.ConsentID && kind == r.Consent.Kind {
			continue
		}
		switch {
		case !rec.Revoked.IsZero() && !rec.Revoked.After(now):
			gap = fmt.Sprintf("%s revoked %s", label, rec.Revoked.Format(time.DateOnly))
		case !rec.Expires.IsZero() && !rec.Expires.After(now):
			gap = fmt.Sprintf("%s expired %s", label, rec.Expires.Format(time.DateOnly))
		case rec.Signed.IsZero() || rec.Signed.After(now):
			gap = fmt.Sprintf("%s %s has no valid signature date", label, rec.ID)
		default:
			if g := consentCovers(rec, chain, purpose); g != "" {
				gap = g
				continue
			}
			return rec.ID, nil
		}
	}
	if gap == "" {
		gap = label + " not on file"
	}
	return "", fmt.Errorf("%s", gap)
}
