package api

import (
	"net/http"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// followUp creates the referral a receiver makes from one it received: a
// Task basedOn the original, back to its referrer or onward to the owner
// it names. The consent basis is inherited only for treatment; the new
// referral goes through the same gates, and, as with any create, a gate
// refusal still answers 201 with the draft Task, whose "blocked" note
// names the gap.
func (h *Handler) followUp(w http.ResponseWriter, r *http.Request, c *call, fu *mapping.FollowUp) (int, error) {
	c.detail["basedOn"] = fu.OriginalID
	nr, err := h.svc.Reverse(r.Context(), c.actor, fu.OriginalID, gateway.ReverseInput{ReceiverID: fu.OwnerID,
		ReasonText: fu.Note, Submit: fu.Submit})
	if nr == nil {
		return 0, err
	}
	c.id, c.tenants = nr.ID, parties(nr)
	if err != nil {
		c.detail["blocked"] = "true"
	}
	writeJSON(w, http.StatusCreated, mapping.NewTask(nr), h.versionHeaders("Task", nr))
	return http.StatusCreated, nil
}
