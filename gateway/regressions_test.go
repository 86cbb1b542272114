package gateway

import (
	"strings"
	"testing"
	"time"
)

// Regression tests for defects found in review; each failed before its fix.

func TestChannelsDoesNotExposeDefaults(t *testing.T) {
	ch := (&Entry{}).Channels()
	ch[0] = ChannelFax
	if DefaultChannelOrder[0] != ChannelFHIR {
		t.Fatalf("Channels handed out the shared default: %v", DefaultChannelOrder)
	}
}

func TestConsentEmptyChainDoesNotPanic(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := &Referral{Requester: Requester{OrgID: "a"}, Patient: Patient{ID: "p"}, Consent: ConsentRef{Kind: ConsentAuthorization}}
	recs := []ConsentRecord{{ID: "c", Tenant: "a", PatientID: "p", Kind: ConsentAuthorization, Signed: now.AddDate(0, -1, 0), Recipients: []string{"x"}}}
	if err := CheckConsent(r, nil, recs, now); err == nil {
		t.Fatal("no receiver, yet consent satisfied")
	}
}

func TestAuthorizationMustNameRecipient(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := &Referral{Requester: Requester{OrgID: "a"}, Patient: Patient{ID: "p"}, Consent: ConsentRef{Kind: ConsentAuthorization}}
	recs := []ConsentRecord{{ID: "c", Tenant: "a", PatientID: "p", Kind: ConsentAuthorization, Signed: now.AddDate(0, -1, 0)}}
	err := CheckConsent(r, []string{"x"}, recs, now)
	if err == nil || !strings.Contains(err.Error(), "names no recipient") {
		t.Fatalf("authorization without recipients: %v", err)
	}
}

func TestPart2NonTreatmentPurposeNeedsAuthorization(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := &Referral{Requester: Requester{OrgID: "a"}, Patient: Patient{ID: "p"},
		Consent: ConsentRef{Kind: ConsentPart2, Purpose: "research"}, Sensitive: Sensitivity{Part2: true}}
	recs := []ConsentRecord{{ID: "c", Tenant: "a", PatientID: "p", Kind: ConsentPart2, Signed: now.AddDate(0, -1, 0)}}
	if err := CheckConsent(r, []string{"x"}, recs, now); err == nil || !strings.Contains(err.Error(), "authorization not on file") {
		t.Fatalf("part 2 research disclosure without authorization: %v", err)
	}
}

func TestDateOfBirthFormats(t *testing.T) {
	for _, s := range []string{"DOB: 5 March 1980", "DOB: 1980/03/05", "DOB: 05.03.1980", "DOB 05-Mar-1980", "dob 1980-3-5"} {
		if f := ScanText("reasonText", s); len(f) != 1 || f[0].Kind != "date-of-birth" {
			t.Errorf("%q: %v", s, f)
		}
	}
}

func TestSealerBindingIsUnambiguous(t *testing.T) {
	s, _ := NewSealer(make([]byte, 32))
	sealed, err := s.Seal("a\x00b", "c", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open("a", "b\x00c", sealed); err == nil {
		t.Fatal("content sealed for one record opened as another")
	}
}
