package api

import (
	"fmt"
	"net/http"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// partTypes are the resources a referral transaction carries that are
// stored as part of the referral (contained in its ServiceRequest) and
// read at the referral's id: Patient/<id>, Practitioner/<id> (the
// referring practitioner) and Consent/<id> (the disclosure basis).
var partTypes = []string{"Patient", "Practitioner", "Consent"}

// readPart serves one of partTypes for the referral of the same id.
func (h *Handler) readPart(typ string) func(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	return func(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
		c.resource = typ
		ctx := r.Context()
		if err := h.allow(ctx, c, typ, smart.Read); err != nil {
			return 0, err
		}
		ref, err := h.load(ctx, c, r.PathValue("id"))
		if err != nil {
			return 0, err
		}
		c.detail["referral"] = ref.ID
		var res any
		switch typ {
		case "Patient":
			res = mapping.NewPatient(ref.Patient, ref.ID)
		case "Practitioner":
			p := mapping.NewPractitioner(ref.Requester, ref.ID)
			if p == nil {
				return 0, fmt.Errorf("referral %s names no referring practitioner: %w", ref.ID, gateway.ErrNotFound)
			}
			res = p
		case "Consent":
			cons, err := mapping.NewConsent(ref, ref.ID)
			if err != nil {
				return 0, err
			}
			cons.Patient.Reference = ptr("Patient/" + ref.ID)
			res = cons
		}
		writeJSON(w, http.StatusOK, res, map[string]string{
			"ETag":          etag(ref.Version),
			"Last-Modified": ref.Updated.UTC().Format(http.TimeFormat),
		})
		return http.StatusOK, nil
	}
}
