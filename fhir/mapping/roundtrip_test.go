package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// expectedNew is what a referral's FHIR rendering must read back as.
func expectedNew(r *gateway.Referral, recs []gateway.RecordContent) gateway.NewReferral {
	n := gateway.NewReferral{Identifier: r.Identifier, Requester: r.Requester, ReceiverID: r.ReceiverID, Patient: r.Patient,
		Reason: r.Reason, ReasonText: r.ReasonText, Priority: r.Priority, Consent: r.Consent, Sensitive: r.Sensitive,
		Submit: r.Status == gateway.StatusRequested}
	for _, rc := range recs {
		n.Records = append(n.Records, gateway.NewRecord{Title: rc.Title, ContentType: rc.ContentType, Content: rc.Content})
	}
	return n
}

func TestTransactionRoundTripLosesNothing(t *testing.T) {
	full, recs := fixture()
	full.Status = gateway.StatusRequested
	sparse := &gateway.Referral{ID: "r2", Version: 1, Created: t0, Updated: t0, Status: gateway.StatusDraft,
		Requester: gateway.Requester{OrgID: "org-a"}, ReceiverID: "prac-b", Patient: gateway.Patient{ID: "MRN-1"},
		Reason: gateway.Coding{Code: "R1"}, Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment}}
	part2 := *sparse
	part2.Sensitive = gateway.Sensitivity{Part2: true, PsychotherapyNotes: true}
	part2.Consent = gateway.ConsentRef{Kind: gateway.ConsentPart2, ConsentID: "c-1"}
	part2.Requester = gateway.Requester{OrgID: "org-a", Name: "Dr. Bo Example"}
	tests := []struct {
		name string
		r    *gateway.Referral
		recs []gateway.RecordContent
	}{
		{"every field", full, recs},
		{"sparse draft", sparse, nil},
		{"part 2 with named provider", &part2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewTransaction(tt.r, "dlv-1", tt.recs, nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseTransaction(b)
			if err != nil {
				t.Fatalf("ParseTransaction: %v", err)
			}
			if len(s.Referral.Order) == 0 {
				t.Error("the ServiceRequest as sent was not kept")
			}
			s.Referral.Order = nil // the kept order is checked by TestServiceRequestFidelity
			if want := expectedNew(tt.r, tt.recs); !reflect.DeepEqual(s.Referral, want) {
				t.Errorf("read back\n%+v\nwant\n%+v", s.Referral, want)
			}
			if want := "identifier=" + SystemDelivery + "|dlv-1"; s.IfNoneExist != want {
				t.Errorf("IfNoneExist = %q, want %q", s.IfNoneExist, want)
			}
		})
	}
}

func TestTaskUpdateRoundTrip(t *testing.T) {
	full, _ := fixture()
	summaryOnly := *full
	summaryOnly.Outcome = &gateway.Outcome{Summary: "Seen, no surgery", At: t0}
	summaryOnly.StatusReason = gateway.Coding{Display: "free text reason"}
	tests := []struct {
		name string
		r    *gateway.Referral
		want gateway.TransitionInput
	}{
		{"coded reason and referenced note", full, gateway.TransitionInput{Reason: full.StatusReason, BusinessStatus: full.BusinessStatus,
			Question: full.Question, Answer: full.Answer,
			Outcome: &gateway.Outcome{Reference: full.Outcome.Reference, Summary: full.Outcome.Summary, At: full.Outcome.At}}},
		{"text reason and summary", &summaryOnly, gateway.TransitionInput{ReasonText: "free text reason", BusinessStatus: full.BusinessStatus,
			Question: full.Question, Answer: full.Answer, Outcome: summaryOnly.Outcome}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseTaskUpdate(mustJSON(t, NewTask(tt.r)))
			if err != nil {
				t.Fatal(err)
			}
			if u.ID != tt.r.ID || u.Version != tt.r.Version || u.Status != tt.r.Status {
				t.Errorf("id/version/status = %s/%d/%s, want %s/%d/%s", u.ID, u.Version, u.Status, tt.r.ID, tt.r.Version, tt.r.Status)
			}
			if !reflect.DeepEqual(u.Input, tt.want) {
				t.Errorf("input\n%+v\nwant\n%+v", u.Input, tt.want)
			}
		})
	}
}

func TestChangesKeepsOnlyWhatTheClientChanged(t *testing.T) {
	r, _ := fixture()
	r.Status, r.Outcome = gateway.StatusInProgress, nil
	prev, err := ParseTaskUpdate(mustJSON(t, NewTask(r)))
	if err != nil {
		t.Fatal(err)
	}
	r.Status = gateway.StatusCompleted
	r.Outcome = &gateway.Outcome{Summary: "done", At: t0}
	next, err := ParseTaskUpdate(mustJSON(t, NewTask(r)))
	if err != nil {
		t.Fatal(err)
	}
	got := Changes(prev, next)
	want := gateway.TransitionInput{Outcome: r.Outcome, ExpectVersion: r.Version}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Changes = %+v, want %+v", got, want)
	}
}

func TestParseInboundTransactionWithSeparateEntries(t *testing.T) {
	b, err := os.ReadFile("testdata/inbound-transaction.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseTransaction(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Referral.Order) == 0 {
		t.Error("the ServiceRequest as sent was not kept")
	}
	s.Referral.Order = nil // the kept order is checked by TestServiceRequestFidelity
	want := gateway.NewReferral{
		Identifier: "https://ehr.example.org/referrals|REF-2002",
		Requester:  gateway.Requester{OrgID: "org-northside", Name: "Ada Example", NPI: "1234567893"},
		ReceiverID: "org-ortho",
		Patient:    gateway.Patient{ID: "MRN-0042", System: "urn:example:mrn", FamilyName: "Testperson", GivenName: "Pat", BirthDate: "1970-01-01", Gender: "female"},
		Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "239873007", Display: "Osteoarthritis of knee"},
		ReasonText: "Assess for arthroscopy.",
		Priority:   gateway.PriorityRoutine,
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Records:    []gateway.NewRecord{{Title: "Referral letter", ContentType: "text/plain", Content: []byte("Synthetic letter.")}},
		Submit:     true,
	}
	if !reflect.DeepEqual(s.Referral, want) {
		t.Errorf("got\n%+v\nwant\n%+v", s.Referral, want)
	}
	if s.IfNoneExist != "identifier=https://ehr.example.org/referrals|REF-2002" {
		t.Errorf("IfNoneExist = %q", s.IfNoneExist)
	}
}

func TestParseRefusalsNameTheElement(t *testing.T) {
	base, err := os.ReadFile("testdata/inbound-transaction.json")
	if err != nil {
		t.Fatal(err)
	}
	// edit applies a change to the decoded inbound bundle.
	edit := func(f func(entries []any)) []byte {
		var doc map[string]any
		if err := json.Unmarshal(base, &doc); err != nil {
			t.Fatal(err)
		}
		f(doc["entry"].([]any))
		return mustJSON(t, doc)
	}
	res := func(entries []any, i int) map[string]any {
		return entries[i].(map[string]any)["resource"].(map[string]any)
	}
	tests := []struct {
		name string
		in   []byte
		expr string
	}{
		{"task status missing", edit(func(e []any) { delete(res(e, 0), "status") }), "Bundle.entry[0].resource.status"},
		{"task status only as primitive extension", edit(func(e []any) {
			delete(res(e, 0), "status")
			res(e, 0)["_status"] = map[string]any{"extension": []any{map[string]any{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}}}
		}), "Bundle.entry[0].resource.status"},
		{"task intent missing", edit(func(e []any) { delete(res(e, 0), "intent") }), "Bundle.entry[0].resource.intent"},
		{"service request intent missing", edit(func(e []any) { delete(res(e, 1), "intent") }), "Bundle.entry[1].resource.intent"},
		{"task already accepted", edit(func(e []any) { res(e, 0)["status"] = "accepted" }), "Bundle.entry[0].resource.status"},
		{"no owner or performer", edit(func(e []any) { delete(res(e, 0), "owner"); delete(res(e, 1), "performer") }), "Bundle.entry[0].resource.owner"},
		{"patient without identifier", edit(func(e []any) { delete(res(e, 2), "identifier") }), "Bundle.entry[2].resource.identifier"},
		{"reason not coded", edit(func(e []any) { delete(res(e, 1), "reasonCode") }), "Bundle.entry[1].resource.reasonCode"},
		{"modifier extension", edit(func(e []any) {
			res(e, 1)["modifierExtension"] = []any{map[string]any{"url": "urn:x", "valueBoolean": true}}
		}), "Bundle.entry[1].resource.modifierExtension"},
		{"binary not base64", edit(func(e []any) { res(e, 5)["data"] = "***" }), "Bundle.entry[5].resource.data"},
		{"not a transaction", func() []byte {
			var doc map[string]any
			_ = json.Unmarshal(base, &doc)
			doc["type"] = "collection"
			return mustJSON(t, doc)
		}(), "Bundle.type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTransaction(tt.in)
			issues := Issues(err)
			if len(issues) == 0 {
				t.Fatalf("err = %v, want an InvalidError at %s", err, tt.expr)
			}
			found := false
			for _, is := range issues {
				found = found || is.Expression == tt.expr
			}
			if !found {
				t.Errorf("issues %v, want one at %s", err, tt.expr)
			}
		})
	}
	t.Run("malformed JSON", func(t *testing.T) {
		_, err := ParseTransaction(bytes.TrimSuffix(base, []byte("}\n")))
		var me *MalformedError
		if !errors.As(err, &me) {
			t.Errorf("err = %v, want *MalformedError", err)
		}
	})
}
