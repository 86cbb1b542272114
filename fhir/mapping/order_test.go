package mapping

import (
	"errors"
	"reflect"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

func TestParseServiceRequestRoundTrip(t *testing.T) {
	sparse := &gateway.Referral{ID: "r2", Version: 1, Created: t0, Updated: t0, Status: gateway.StatusDraft, Identifier: "urn:x|R-2",
		Requester: gateway.Requester{OrgID: "org-a"}, ReceiverID: "prac-b", Patient: gateway.Patient{ID: "MRN-1"},
		Reason: gateway.Coding{Code: "R1"}, Priority: gateway.Priority("urgent"), Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment}}
	part2 := *sparse
	part2.Sensitive = gateway.Sensitivity{Part2: true, PsychotherapyNotes: true}
	part2.Consent = gateway.ConsentRef{Kind: gateway.ConsentPart2, ConsentID: "c-1"}
	part2.Requester = gateway.Requester{OrgID: "org-a", Name: "Dr. Bo Example"}
	tests := []struct {
		name string
		r    *gateway.Referral
		// org is the requester organisation read back: a contained
		// Practitioner does not name it, so the API fills in the caller's.
		org string
	}{
		{"requested by the organisation", sparse, "org-a"},
		{"part 2 with a named provider", &part2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sr, err := NewServiceRequest(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseServiceRequest(mustJSON(t, sr))
			if err != nil {
				t.Fatalf("ParseServiceRequest: %v", err)
			}
			if len(s.Referral.Order) == 0 {
				t.Error("the ServiceRequest as sent was not kept")
			}
			s.Referral.Order = nil // the kept order is checked by TestServiceRequestFidelity
			want := expectedNew(tt.r, nil)
			want.Requester.OrgID = tt.org
			if !reflect.DeepEqual(s.Referral, want) {
				t.Errorf("read back\n%+v\nwant\n%+v", s.Referral, want)
			}
		})
	}
}

func TestParseTaskLink(t *testing.T) {
	const stored = `"focus":{"reference":"ServiceRequest/sr-1"}`
	tests := []struct {
		name     string
		body     string
		ok       bool
		want     *TaskLink
		errorsAt string
	}{
		{"submitting Task", `{"resourceType":"Task","status":"requested","intent":"order",` + stored + `,"requester":{"reference":"Organization/org-a"},"owner":{"reference":"Organization/org-b"}}`,
			true, &TaskLink{ServiceRequestID: "sr-1", Submit: true, RequesterOrgID: "org-a", OwnerID: "org-b"}, ""},
		{"draft Task", `{"resourceType":"Task","status":"draft","intent":"order",` + stored + `}`, true, &TaskLink{ServiceRequestID: "sr-1"}, ""},
		{"contained focus is not a link", `{"resourceType":"Task","status":"draft","intent":"order","focus":{"reference":"#sr"},"contained":[{"resourceType":"ServiceRequest","id":"sr","status":"draft","intent":"order","subject":{"reference":"#p"}}]}`, false, nil, ""},
		{"contained ServiceRequest is not a link", `{"resourceType":"Task","status":"draft","intent":"order",` + stored + `,"contained":[{"resourceType":"ServiceRequest","id":"sr","status":"draft","intent":"order","subject":{"reference":"#p"}}]}`, false, nil, ""},
		{"malformed is left to ParseTask", `{"resourceType":"Task",`, false, nil, ""},
		{"status other than draft or requested", `{"resourceType":"Task","status":"accepted","intent":"order",` + stored + `}`, true, nil, "Task.status"},
		{"intent other than order", `{"resourceType":"Task","status":"draft","intent":"plan",` + stored + `}`, true, nil, "Task.intent"},
		{"requester not an organisation", `{"resourceType":"Task","status":"draft","intent":"order",` + stored + `,"requester":{"reference":"Patient/p"}}`, true, nil, "Task.requester"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, ok, err := ParseTaskLink([]byte(tt.body))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (err %v)", ok, tt.ok, err)
			}
			if tt.errorsAt != "" {
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Expression != tt.errorsAt {
					t.Fatalf("err %v, want an InvalidError at %s", err, tt.errorsAt)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(l, tt.want) {
				t.Errorf("ParseTaskLink = %+v, %v; want %+v", l, err, tt.want)
			}
		})
	}
}
