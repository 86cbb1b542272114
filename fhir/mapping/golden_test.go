package mapping

import (
	"testing"

	"github.com/referralgw/gateway/fhir/mapping/schematest"
	"github.com/referralgw/gateway/gateway"
)

func TestRenderedResourcesMatchGoldenAndValidate(t *testing.T) {
	v := schematest.New(t)
	full, recs := fixture()
	minimal := &gateway.Referral{ID: "0195f0a0-0000-7000-8000-000000000002", Version: 1, Created: t0, Updated: t0,
		Status: gateway.StatusDraft, Priority: gateway.PriorityRoutine, Requester: gateway.Requester{OrgID: "org-northside"},
		ReceiverID: "org-ortho", ReceiverOrgID: "org-ortho", Patient: gateway.Patient{ID: "MRN-7"},
		Reason: gateway.Coding{Code: "R1"}, Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Blocked: "recipient org-ortho is not verified"}
	tests := []struct {
		name   string
		render func(t *testing.T) []byte
	}{
		{"task-completed.json", func(t *testing.T) []byte { return mustJSON(t, NewTask(full)) }},
		{"task-draft.json", func(t *testing.T) []byte { return mustJSON(t, NewTask(minimal)) }},
		{"servicerequest-completed.json", func(t *testing.T) []byte {
			sr, err := NewServiceRequest(full)
			if err != nil {
				t.Fatal(err)
			}
			return mustJSON(t, sr)
		}},
		{"servicerequest-draft.json", func(t *testing.T) []byte {
			sr, err := NewServiceRequest(minimal)
			if err != nil {
				t.Fatal(err)
			}
			return mustJSON(t, sr)
		}},
		{"transaction.json", func(t *testing.T) []byte {
			b, err := NewTransaction(full, "0195f0a0-0000-7000-8000-0000000d0001", recs, nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"documentreference.json", func(t *testing.T) []byte {
			d, err := NewDocumentReference(full, recs[0].Record)
			if err != nil {
				t.Fatal(err)
			}
			return mustJSON(t, d)
		}},
		{"binary.json", func(t *testing.T) []byte { return mustJSON(t, NewBinary(recs[0])) }},
		{"organization.json", func(t *testing.T) []byte {
			return mustJSON(t, NewOrganization(&gateway.Entry{ID: "org-ortho-east", Kind: gateway.KindOrganization,
				Name: "Ortho Example East", NPI: "1234567893", ParentID: "org-ortho"}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.render(t)
			v.Validate(t, got)
			golden(t, tt.name, got)
		})
	}
}
