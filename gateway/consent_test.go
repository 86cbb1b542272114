package gateway_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// consentNow is the fixed clock of the consent tests.
var consentNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// consentChain is the receiver (a practitioner) followed by its location and
// its organization, as the service passes it.
var consentChain = []string{"prac-bob", "loc-east", "org-beta"}

// consentReferral is a synthetic referral from org-alpha for patient
// pat-001; edit applies the case's changes.
func consentReferral(edit func(r *gateway.Referral)) *gateway.Referral {
	r := &gateway.Referral{
		ID:         "ref-1",
		Status:     gateway.StatusDraft,
		Requester:  gateway.Requester{OrgID: "org-alpha"},
		ReceiverID: "prac-bob",
		Patient:    gateway.Patient{ID: "pat-001", FamilyName: "Testperson", GivenName: "Alex"},
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
	}
	if edit != nil {
		edit(r)
	}
	return r
}

// authOnFile is a signed, unexpired authorization for pat-001 of org-alpha
// naming org-beta (the receiver's parent organization) for treatment and
// research; edit narrows it.
func authOnFile(edit func(c *gateway.ConsentRecord)) gateway.ConsentRecord {
	c := gateway.ConsentRecord{
		ID:         "auth-1",
		Tenant:     "org-alpha",
		PatientID:  "pat-001",
		Kind:       gateway.ConsentAuthorization,
		Signed:     consentNow.AddDate(0, -1, 0),
		Expires:    consentNow.AddDate(1, 0, 0),
		Recipients: []string{"org-beta"},
		Purposes:   []string{"treatment", "research"},
	}
	if edit != nil {
		edit(&c)
	}
	return c
}

// part2OnFile is a signed Part 2 consent for pat-001 of org-alpha with a
// general designation (no named recipients); edit narrows it.
func part2OnFile(edit func(c *gateway.ConsentRecord)) gateway.ConsentRecord {
	c := gateway.ConsentRecord{
		ID:        "p2-1",
		Tenant:    "org-alpha",
		PatientID: "pat-001",
		Kind:      gateway.ConsentPart2,
		Signed:    consentNow.AddDate(0, -2, 0),
		Purposes:  []string{"treatment"},
	}
	if edit != nil {
		edit(&c)
	}
	return c
}

func TestCheckConsent(t *testing.T) {
	tests := []struct {
		name     string
		referral *gateway.Referral
		chain    []string // consentChain when nil
		onFile   []gateway.ConsentRecord
		// wantGap is "" when the basis is satisfied, otherwise a phrase the
		// ConsentError's gap must contain.
		wantGap   string
		wantBasis gateway.ConsentKind
	}{
		// The four bases, satisfied.
		{
			name:     "treatment is the default and needs nothing on file",
			referral: consentReferral(nil),
		},
		{
			name:     "treatment with the purpose spelled out",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Purpose = "treatment" }),
		},
		{
			name:     "authorization on file covering parent organization",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile:   []gateway.ConsentRecord{authOnFile(nil)},
		},
		{
			name: "required by law with its citation",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentRequiredByLaw, Purpose: "public-health", Citation: "164.512(b)"}
			}),
		},
		{
			name:     "Part 2 basis with a Part 2 consent on file",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentPart2 }),
			onFile:   []gateway.ConsentRecord{part2OnFile(nil)},
		},

		// Missing or unknown basis.
		{
			name:      "no basis",
			referral:  consentReferral(func(r *gateway.Referral) { r.Consent.Kind = "" }),
			wantGap:   "no consent basis",
			wantBasis: "",
		},
		{
			name:      "unknown basis",
			referral:  consentReferral(func(r *gateway.Referral) { r.Consent.Kind = "implied" }),
			wantGap:   "unknown consent basis",
			wantBasis: "implied",
		},

		// Treatment needs an authorization for other purposes and for
		// psychotherapy notes (164.508(a)(2)).
		{
			name:      "treatment basis for a research purpose without authorization",
			referral:  consentReferral(func(r *gateway.Referral) { r.Consent.Purpose = "research" }),
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentTreatment,
		},
		{
			name:     "treatment basis for a research purpose with authorization",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Purpose = "research" }),
			onFile:   []gateway.ConsentRecord{authOnFile(nil)},
		},
		{
			name:      "psychotherapy notes without authorization",
			referral:  consentReferral(func(r *gateway.Referral) { r.Sensitive.PsychotherapyNotes = true }),
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentTreatment,
		},
		{
			name:     "psychotherapy notes with authorization",
			referral: consentReferral(func(r *gateway.Referral) { r.Sensitive.PsychotherapyNotes = true }),
			onFile:   []gateway.ConsentRecord{authOnFile(nil)},
		},
		{
			name:     "behavioral health alone needs no authorization",
			referral: consentReferral(func(r *gateway.Referral) { r.Sensitive.BehavioralHealth = true }),
		},

		// The authorization record itself.
		{
			name:      "authorization basis with nothing on file",
			referral:  consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization expired names the date",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Expires = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
			})},
			wantGap:   "authorization expired 2026-10-01",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization expiring exactly now is expired",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Expires = consentNow
			})},
			wantGap:   "authorization expired 2026-11-23",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization without expiry date",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Expires = time.Time{}
			})},
		},
		{
			name:     "authorization revoked",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Revoked = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
			})},
			wantGap:   "authorization revoked 2026-11-22",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization revocation effective only later",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Revoked = consentNow.Add(24 * time.Hour)
			})},
		},
		{
			name:     "authorization not signed",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Signed = time.Time{}
			})},
			wantGap:   "auth-1 has no valid signature date",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization signed in the future",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Signed = consentNow.Add(time.Hour)
			})},
			wantGap:   "no valid signature date",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization naming the receiver itself",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Recipients = []string{"prac-bob"}
			})},
		},
		{
			name:     "authorization naming the receiver's location",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Recipients = []string{"org-other", "loc-east"}
			})},
		},
		{
			name:     "authorization out of recipient scope",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Recipients = []string{"org-gamma"}
			})},
			wantGap:   "does not name recipient prac-bob",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization names a child, not the receiver's ancestors",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			chain:    []string{"org-beta"},
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Recipients = []string{"prac-bob"}
			})},
			wantGap:   "does not name recipient org-beta",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name: "authorization out of purpose scope",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentAuthorization, Purpose: "legal"}
			}),
			onFile:    []gateway.ConsentRecord{authOnFile(nil)},
			wantGap:   `does not cover purpose "legal"`,
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization of another practice does not count",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.Tenant = "org-beta"
			})},
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "authorization of another patient does not count",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{authOnFile(func(c *gateway.ConsentRecord) {
				c.PatientID = "pat-002"
			})},
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:      "a Part 2 consent is not an authorization",
			referral:  consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile:    []gateway.ConsentRecord{part2OnFile(nil)},
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name:     "one expired and one valid authorization",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentAuthorization }),
			onFile: []gateway.ConsentRecord{
				authOnFile(func(c *gateway.ConsentRecord) { c.ID = "auth-old"; c.Expires = consentNow.AddDate(0, -1, 0) }),
				authOnFile(nil),
			},
		},

		// ConsentID points at one record: no other record stands in for it.
		{
			name: "consent id points at the valid record",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentAuthorization, ConsentID: "auth-1"}
			}),
			onFile: []gateway.ConsentRecord{
				authOnFile(func(c *gateway.ConsentRecord) { c.ID = "auth-old"; c.Expires = consentNow.AddDate(0, -1, 0) }),
				authOnFile(nil),
			},
		},
		{
			name: "consent id points at an expired record beside a valid one",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentAuthorization, ConsentID: "auth-old"}
			}),
			onFile: []gateway.ConsentRecord{
				authOnFile(func(c *gateway.ConsentRecord) {
					c.ID = "auth-old"
					c.Expires = time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
				}),
				authOnFile(nil),
			},
			wantGap:   "authorization expired 2026-09-30",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name: "consent id points at a record that is not on file",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentAuthorization, ConsentID: "auth-9"}
			}),
			onFile:    []gateway.ConsentRecord{authOnFile(nil)},
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name: "consent id points at another patient's record",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentAuthorization, ConsentID: "auth-2"}
			}),
			onFile: []gateway.ConsentRecord{
				authOnFile(nil),
				authOnFile(func(c *gateway.ConsentRecord) { c.ID = "auth-2"; c.PatientID = "pat-002" }),
			},
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentAuthorization,
		},

		// Required by law.
		{
			name: "required by law without citation",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentRequiredByLaw, Purpose: "public-health"}
			}),
			wantGap:   "citation",
			wantBasis: gateway.ConsentRequiredByLaw,
		},
		{
			name: "required by law with psychotherapy notes still needs an authorization",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentRequiredByLaw, Citation: "164.512(f)"}
				r.Sensitive.PsychotherapyNotes = true
			}),
			wantGap:   "authorization not on file",
			wantBasis: gateway.ConsentRequiredByLaw,
		},

		// 42 CFR Part 2.
		{
			name:      "Part 2 records under treatment without Part 2 consent",
			referral:  consentReferral(func(r *gateway.Referral) { r.Sensitive.Part2 = true }),
			wantGap:   "Part 2 consent not on file",
			wantBasis: gateway.ConsentTreatment,
		},
		{
			name:      "Part 2 records: an authorization does not stand in for Part 2 consent",
			referral:  consentReferral(func(r *gateway.Referral) { r.Sensitive.Part2 = true }),
			onFile:    []gateway.ConsentRecord{authOnFile(nil)},
			wantGap:   "Part 2 consent not on file",
			wantBasis: gateway.ConsentTreatment,
		},
		{
			name:     "Part 2 records under treatment with Part 2 consent",
			referral: consentReferral(func(r *gateway.Referral) { r.Sensitive.Part2 = true }),
			onFile:   []gateway.ConsentRecord{part2OnFile(nil)},
		},
		{
			name:      "Part 2 basis without Part 2 consent",
			referral:  consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentPart2 }),
			wantGap:   "Part 2 consent not on file",
			wantBasis: gateway.ConsentPart2,
		},
		{
			name:     "Part 2 consent expired",
			referral: consentReferral(func(r *gateway.Referral) { r.Sensitive.Part2 = true }),
			onFile: []gateway.ConsentRecord{part2OnFile(func(c *gateway.ConsentRecord) {
				c.Expires = time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
			})},
			wantGap:   "Part 2 consent expired 2026-01-31",
			wantBasis: gateway.ConsentTreatment,
		},
		{
			name:     "Part 2 consent of another patient",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentPart2 }),
			onFile: []gateway.ConsentRecord{part2OnFile(func(c *gateway.ConsentRecord) {
				c.PatientID = "pat-002"
			})},
			wantGap:   "Part 2 consent not on file",
			wantBasis: gateway.ConsentPart2,
		},
		{
			name:     "Part 2 consent naming another recipient",
			referral: consentReferral(func(r *gateway.Referral) { r.Consent.Kind = gateway.ConsentPart2 }),
			onFile: []gateway.ConsentRecord{part2OnFile(func(c *gateway.ConsentRecord) {
				c.Recipients = []string{"org-gamma"}
			})},
			wantGap:   "does not name recipient prac-bob",
			wantBasis: gateway.ConsentPart2,
		},
		{
			name: "Part 2 basis with consent id of the Part 2 record",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent = gateway.ConsentRef{Kind: gateway.ConsentPart2, ConsentID: "p2-1"}
			}),
			onFile: []gateway.ConsentRecord{part2OnFile(nil)},
		},
		{
			name: "authorization basis for psychotherapy notes that are also Part 2",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent.Kind = gateway.ConsentAuthorization
				r.Sensitive = gateway.Sensitivity{Part2: true, PsychotherapyNotes: true}
			}),
			onFile:    []gateway.ConsentRecord{authOnFile(nil)},
			wantGap:   "Part 2 consent not on file",
			wantBasis: gateway.ConsentAuthorization,
		},
		{
			name: "authorization and Part 2 consent both on file",
			referral: consentReferral(func(r *gateway.Referral) {
				r.Consent.Kind = gateway.ConsentAuthorization
				r.Sensitive = gateway.Sensitivity{Part2: true, PsychotherapyNotes: true}
			}),
			onFile: []gateway.ConsentRecord{authOnFile(nil), part2OnFile(nil)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain := tt.chain
			if chain == nil {
				chain = consentChain
			}
			err := gateway.CheckConsent(tt.referral, chain, tt.onFile, consentNow)
			if tt.wantGap == "" {
				if err != nil {
					t.Fatalf("CheckConsent = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckConsent = nil, want gap %q", tt.wantGap)
			}
			var ce *gateway.ConsentError
			if !errors.As(err, &ce) {
				t.Fatalf("CheckConsent error %v (%T) is not a *ConsentError", err, err)
			}
			if ce.Basis != tt.wantBasis {
				t.Errorf("ConsentError.Basis = %q, want %q", ce.Basis, tt.wantBasis)
			}
			if !strings.Contains(ce.Gap, tt.wantGap) {
				t.Errorf("ConsentError.Gap = %q, want it to contain %q", ce.Gap, tt.wantGap)
			}
			if !strings.Contains(err.Error(), ce.Gap) {
				t.Errorf("Error() = %q does not name the gap %q", err.Error(), ce.Gap)
			}
			// The gap is shown to the referrer and audited: no patient name in it.
			for _, phi := range []string{tt.referral.Patient.FamilyName, tt.referral.Patient.GivenName} {
				if strings.Contains(err.Error(), phi) {
					t.Errorf("Error() = %q carries the patient's name", err.Error())
				}
			}
		})
	}
}
