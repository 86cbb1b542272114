package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// createServiceRequest is the first step of the two-step create: the
// ServiceRequest alone becomes a draft referral of the caller's
// organisation, which a later POST /fhir/Task focusing it submits.
func (h *Handler) createServiceRequest(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "ServiceRequest"
	ctx := r.Context()
	if err := h.allowCreate(ctx, c, r, "ServiceRequest"); err != nil {
		return 0, err
	}
	body, err := readBody(r)
	if err != nil {
		return 0, err
	}
	sub, err := mapping.ParseServiceRequest(body)
	if err != nil {
		return 0, err
	}
	sub.IfNoneExist = r.Header.Get("If-None-Exist")
	ref, existed, err := h.create(ctx, c, sub)
	if err != nil {
		return 0, err
	}
	c.id, c.tenants = ref.ID, parties(ref)
	sr, err := h.serviceRequest(r.Context(), ref)
	if err != nil {
		return 0, err
	}
	if existed {
		c.detail["conditional"] = "matched"
		writeMatched(w, c, "ServiceRequest", sr, h.versionHeaders("ServiceRequest", ref))
		return http.StatusOK, nil
	}
	writeJSON(w, http.StatusCreated, sr, h.versionHeaders("ServiceRequest", ref))
	return http.StatusCreated, nil
}

// attachTask is the second step of the two-step create: a Task focusing a
// draft of the caller's organisation adopts that draft and, when it asks
// for status requested, submits it through the send gates.
func (h *Handler) attachTask(w http.ResponseWriter, r *http.Request, c *call, link *mapping.TaskLink) (int, error) {
	ctx := r.Context()
	c.detail["focus"] = "stored"
	if ine := r.Header.Get("If-None-Exist"); ine != "" {
		ident, err := parseIfNoneExist(ine)
		if err != nil {
			return 0, err
		}
		// A retried submit finds the Task its first attempt made.
		prior, err := h.byIdentifier(ctx, c.p.OrgID, ident)
		switch {
		case err == nil && prior.Status != gateway.StatusDraft:
			c.id, c.tenants = prior.ID, parties(prior)
			c.detail["conditional"] = "matched"
			writeMatched(w, c, "Task", mapping.NewTask(prior), h.versionHeaders("Task", prior))
			return http.StatusOK, nil
		case err != nil && !errors.Is(err, gateway.ErrNotFound):
			return 0, err
		}
	}
	cur, err := h.load(ctx, c, link.ServiceRequestID)
	if err != nil {
		return 0, err
	}
	if link.Identifier != "" && link.Identifier != cur.Identifier {
		return 0, newAPIError(http.StatusUnprocessableEntity, "business-rule",
			"Task.identifier differs from the focus ServiceRequest's identifier; give the referral's identifier on the ServiceRequest", "Task.identifier")
	}
	if cur.Requester.OrgID != c.p.OrgID { // a receiver sees the referral but does not own it
		c.detail["reason"] = "not the requester of the referral"
		return 0, fmt.Errorf("referral %s for %s: %w", cur.ID, c.p.OrgID, gateway.ErrNotFound)
	}
	if cur.Status != gateway.StatusDraft {
		return 0, newAPIError(http.StatusUnprocessableEntity, "business-rule",
			fmt.Sprintf("the focus ServiceRequest is %s, not a draft: a Task is attached only to a draft (retry with If-None-Exist: identifier=<system>|<value> to get the Task back)", cur.Status), "Task.focus")
	}
	if link.RequesterOrgID != "" && link.RequesterOrgID != cur.Requester.OrgID {
		return 0, newAPIError(http.StatusUnprocessableEntity, "business-rule",
			"Task.requester differs from the requester of the focus ServiceRequest", "Task.requester")
	}
	if link.OwnerID != "" && link.OwnerID != cur.ReceiverID {
		return 0, newAPIError(http.StatusUnprocessableEntity, "business-rule",
			"Task.owner differs from the performer of the focus ServiceRequest", "Task.owner")
	}
	ref := cur
	if link.Submit {
		var refusal error
		// The checks above read cur: submit that version or nothing.
		ref, refusal = h.svc.SubmitAt(ctx, c.actor, cur.ID, cur.Version)
		if ref == nil || refusal != nil {
			if refusal == nil {
				refusal = errors.New("submit failed")
			}
			return 0, refusal
		}
	}
	c.tenants = parties(ref)
	writeJSON(w, http.StatusCreated, mapping.NewTask(ref), h.versionHeaders("Task", ref))
	return http.StatusCreated, nil
}
