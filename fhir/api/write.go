package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// create stores the submitted referral, or finds the one a conditional
// create matches. existed reports the latter.
func (h *Handler) create(ctx context.Context, c *call, sub *mapping.Submission) (ref *gateway.Referral, existed bool, err error) {
	n := sub.Referral
	if n.Requester.OrgID == "" {
		n.Requester.OrgID = c.p.OrgID
	}
	ident := ""
	if sub.IfNoneExist != "" {
		if ident, err = parseIfNoneExist(sub.IfNoneExist); err != nil {
			return nil, false, err
		}
		if ref, err := h.byIdentifier(ctx, c.p.OrgID, ident); err == nil {
			return ref, true, nil
		} else if !errors.Is(err, gateway.ErrNotFound) {
			return nil, false, err
		}
	}
	ref, refusal := h.svc.CreateReferral(ctx, c.actor, n)
	if ref == nil {
		if ident != "" && errors.Is(refusal, gateway.ErrConflict) { // a concurrent retry won the race
			if ref, err := h.byIdentifier(ctx, c.p.OrgID, ident); err == nil {
				return ref, true, nil
			}
		}
		return nil, false, refusal
	}
	if refusal != nil {
		c.detail["blocked"] = "true"
	}
	return ref, false, nil
}

func (h *Handler) byIdentifier(ctx context.Context, org, ident string) (*gateway.Referral, error) {
	return h.svc.ReferralByIdentifier(ctx, org, ident)
}

// parseIfNoneExist reads "identifier=[system|]value", the one criterion
// conditional create supports, into the stored identifier form.
func parseIfNoneExist(q string) (string, error) {
	v, err := url.ParseQuery(q)
	if err != nil || len(v) != 1 || len(v["identifier"]) != 1 || v.Get("identifier") == "" {
		return "", newAPIError(http.StatusBadRequest, "not-supported", "If-None-Exist supports exactly one identifier=[system|]value criterion")
	}
	system, value := mapping.SplitIdentifier(v.Get("identifier"))
	return mapping.JoinIdentifier(system, value), nil
}

func (h *Handler) createTask(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Task"
	ctx := r.Context()
	if err := h.allowCreate(ctx, c, r, "Task"); err != nil {
		return 0, err
	}
	body, err := readBody(r)
	if err != nil {
		return 0, err
	}
	if fu, ok, err := mapping.ParseFollowUp(body); ok {
		if err != nil {
			return 0, err
		}
		if r.Header.Get("If-None-Exist") != "" {
			// Ignoring the condition would make a retry a second referral.
			return 0, newAPIError(http.StatusBadRequest, "not-supported",
				"If-None-Exist is not supported on a follow-up Task (basedOn): it has no identifier to match; create it without the condition")
		}
		return h.followUp(w, r, c, fu)
	}
	if link, ok, err := mapping.ParseTaskLink(body); ok {
		if err != nil {
			return 0, err
		}
		return h.attachTask(w, r, c, link)
	}
	sub, err := mapping.ParseTask(body)
	if err != nil {
		return 0, err
	}
	sub.IfNoneExist = r.Header.Get("If-None-Exist")
	ref, existed, err := h.create(ctx, c, sub)
	if err != nil {
		return 0, err
	}
	c.id, c.tenants = ref.ID, parties(ref)
	if existed {
		c.detail["conditional"] = "matched"
		writeMatched(w, c, "Task", mapping.NewTask(ref), h.versionHeaders("Task", ref))
		return http.StatusOK, nil
	}
	writeJSON(w, http.StatusCreated, mapping.NewTask(ref), h.versionHeaders("Task", ref))
	return http.StatusCreated, nil
}

func (h *Handler) transaction(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Task"
	ctx := r.Context()
	body, err := readBody(r)
	if err != nil {
		return 0, err
	}
	// Each entry is authorised for its own interaction (a DocumentReference
	// entry needs DocumentReference create, not the Task's scope), all
	// before anything is stored.
	needs, err := transactionNeeds(body)
	if err != nil {
		return 0, err
	}
	if err := h.allowEntries(ctx, c, needs); err != nil {
		return 0, err
	}
	if emptyTransaction(body) { // R4: not an error; nothing to do
		c.detail["empty"] = "true"
		writeJSON(w, http.StatusOK, newBundle("transaction-response"), nil)
		return http.StatusOK, nil
	}
	sub, err := mapping.ParseTransaction(body)
	if err != nil {
		return 0, err
	}
	ref, existed, err := h.create(ctx, c, sub)
	if err != nil {
		return 0, err
	}
	c.id, c.tenants = ref.ID, parties(ref)
	if existed {
		c.detail["conditional"] = "matched"
	}
	b := newBundle("transaction-response")
	status := "201 Created"
	if existed {
		status = "200 OK"
	}
	for _, en := range sub.Entries {
		resp := &fhir.BundleEntryResponse{Status: status}
		switch {
		case en.Type == "Task" || en.Type == "ServiceRequest":
			resp.Location = ptr(fmt.Sprintf("%s/%s/_history/%d", en.Type, ref.ID, ref.Version))
			resp.Etag = ptr(etag(ref.Version))
			resp.LastModified = ptr(mapping.Instant(ref.Updated))
		case en.Record >= 0 && en.Record < len(ref.Records):
			resp.Location = ptr(fmt.Sprintf("%s/%s", en.Type, ref.Records[en.Record].ID))
			resp.Etag = ptr(etag(1))
			resp.LastModified = ptr(mapping.Instant(ref.Created))
		case slices.Contains(partTypes, en.Type):
			// Stored as part of the referral, read at the referral's id.
			resp.Location = ptr(fmt.Sprintf("%s/%s", en.Type, ref.ID))
			resp.Etag = ptr(etag(ref.Version))
			resp.LastModified = ptr(mapping.Instant(ref.Updated))
		default:
			// Only after a conditional match: the existing referral holds
			// fewer records than this transaction carries.
			return 0, newAPIError(http.StatusConflict, "duplicate", fmt.Sprintf(
				"the Task identifier matches referral %s, which holds %d records, not the %d this transaction carries",
				ref.ID, len(ref.Records), countRecords(sub.Entries)), "Bundle.entry.request.ifNoneExist")
		}
		if err := b.add("", nil, nil, resp, nil); err != nil {
			return 0, err
		}
	}
	writeJSON(w, http.StatusOK, b, nil)
	return http.StatusOK, nil
}

// emptyTransaction reports a transaction Bundle without entries.
func emptyTransaction(body []byte) bool {
	var b struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Entry        []json.RawMessage `json:"entry"`
	}
	return json.Unmarshal(body, &b) == nil && b.ResourceType == "Bundle" && b.Type == "transaction" && len(b.Entry) == 0
}

func countRecords(entries []mapping.Entry) int {
	n := 0
	for _, en := range entries {
		if en.Type == "DocumentReference" {
			n++
		}
	}
	return n
}

func (h *Handler) updateTask(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Task"
	ctx := r.Context()
	if err := h.allow(ctx, c, "Task", smart.Update); err != nil {
		return 0, err
	}
	cur, err := h.load(ctx, c, r.PathValue("id"))
	if errors.Is(err, gateway.ErrNotFound) {
		return 0, h.noUpdateCreate(r, "Task")
	}
	if err != nil {
		return 0, err
	}
	expect, err := ifMatch(r, "Task", cur.Version)
	if err != nil {
		return 0, err
	}
	body, err := readBody(r)
	if err != nil {
		return 0, err
	}
	var id struct {
		ID *string `json:"id"`
	}
	if json.Unmarshal(body, &id) == nil && (id.ID == nil || *id.ID == "") {
		return 0, newAPIError(http.StatusBadRequest, "required", "Task.id is required in an update and must match the URL", "Task.id")
	}
	return h.applyUpdate(w, r, c, cur, expect, body)
}

func (h *Handler) patchTask(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Task"
	ctx := r.Context()
	if err := h.allow(ctx, c, "Task", smart.Update); err != nil {
		return 0, err
	}
	cur, err := h.load(ctx, c, r.PathValue("id"))
	if err != nil {
		return 0, err
	}
	expect, err := ifMatch(r, "Task", cur.Version)
	if err != nil {
		return 0, err
	}
	patch, err := readBody(r, "application/json-patch+json")
	if err != nil {
		return 0, err
	}
	doc, err := json.Marshal(mapping.NewTask(cur))
	if err != nil {
		return 0, err
	}
	patched, err := applyPatch(doc, patch)
	if err != nil {
		if strings.Contains(err.Error(), "test failed") {
			return 0, newAPIError(http.StatusUnprocessableEntity, "processing", err.Error())
		}
		return 0, newAPIError(http.StatusBadRequest, "invalid", err.Error())
	}
	return h.applyUpdate(w, r, c, cur, expect, patched)
}

// applyUpdate moves the referral to the status the updated Task asks for,
// through gateway.Service (Submit for draft → requested, so the send gates
// run; Transition otherwise). expect is the version If-Match named (0:
// none): the change is stored only if the referral is still at it.
func (h *Handler) applyUpdate(w http.ResponseWriter, r *http.Request, c *call, cur *gateway.Referral, expect int, body []byte) (int, error) {
	ctx := r.Context()
	next, err := mapping.ParseTaskUpdate(body)
	if err != nil {
		return 0, err
	}
	if next.ID != "" && next.ID != cur.ID {
		return 0, newAPIError(http.StatusBadRequest, "invalid", "Task.id does not match the URL", "Task.id")
	}
	curJSON, err := json.Marshal(mapping.NewTask(cur))
	if err != nil {
		return 0, err
	}
	prev, err := mapping.ParseTaskUpdate(curJSON)
	if err != nil {
		return 0, err
	}
	if err := mapping.UnappliedTaskChanges(curJSON, body); err != nil {
		return 0, err
	}
	in := mapping.Changes(prev, next)
	// R4 update: meta.versionId in the body is ignored; a version-aware
	// update names the version in If-Match (checked by the caller).
	in.ExpectVersion = expect
	c.detail["from"], c.detail["to"] = string(cur.Status), string(next.Status)
	if why, ok := notInLifecycle[[2]gateway.Status{cur.Status, next.Status}]; ok {
		return 0, newAPIError(http.StatusUnprocessableEntity, "business-rule", why, "Task.status")
	}
	var updated *gateway.Referral
	switch {
	case next.Status == cur.Status:
		progress := gateway.TransitionInput{ExpectVersion: in.ExpectVersion, BusinessStatus: in.BusinessStatus}
		switch {
		case in == (gateway.TransitionInput{ExpectVersion: in.ExpectVersion}):
			updated = cur // nothing changed
		case in == progress:
			// The receiver reports progress without a lifecycle move.
			if updated, err = h.svc.UpdateProgress(ctx, c.actor, cur.ID, in.BusinessStatus, in.ExpectVersion); err != nil {
				return 0, unconditionalConflict(err, expect)
			}
		default:
			return 0, newAPIError(http.StatusUnprocessableEntity, "business-rule",
				"without a change of Task.status only businessStatus can change", "Task.status")
		}
	case cur.Status == gateway.StatusDraft && next.Status == gateway.StatusRequested:
		var refusal error
		updated, refusal = h.svc.SubmitAt(ctx, c.actor, cur.ID, in.ExpectVersion)
		if updated == nil || refusal != nil {
			if refusal == nil {
				refusal = errors.New("submit failed")
			}
			return 0, unconditionalConflict(refusal, expect)
		}
	default:
		if updated, err = h.svc.Transition(ctx, c.actor, cur.ID, next.Status, in); err != nil {
			return 0, unconditionalConflict(err, expect)
		}
	}
	writeJSON(w, http.StatusOK, mapping.NewTask(updated), h.versionHeaders("Task", updated))
	return http.StatusOK, nil
}

// unconditionalConflict turns a version conflict of an update that named
// no version (expect 0) into 409: 412 answers only a precondition the
// client gave (If-Match), and there was none.
func unconditionalConflict(err error, expect int) error {
	var dup *gateway.DuplicateError
	if expect == 0 && errors.Is(err, gateway.ErrConflict) && !errors.As(err, &dup) {
		return newAPIError(http.StatusConflict, "conflict", "the Task changed while this update was applied; read it again and retry", "Task")
	}
	return err
}

// notInLifecycle are the Task moves R4 allows that the referral
// lifecycle does not, with what to do instead (see docs/fhir.md).
var notInLifecycle = map[[2]gateway.Status]string{
	{gateway.StatusInProgress, gateway.StatusOnHold}: "in-progress → on-hold is not part of the referral lifecycle: a question for the referrer " +
		"is asked before accepting (received → on-hold); while the service is in progress, report with businessStatus and a note",
	{gateway.StatusInProgress, gateway.StatusFailed}: "in-progress → failed is not part of the referral lifecycle: failed means no channel could " +
		"deliver the referral and is set by the gateway; a service that could not be performed is completed with a consult note saying so",
	{gateway.StatusAccepted, gateway.StatusFailed}: "accepted → failed is not part of the referral lifecycle: failed is set by the gateway when no " +
		"channel could deliver; a service that could not be performed is completed with a consult note saying so",
}

// noUpdateCreate answers a PUT to an id that does not exist (for this
// client: another organisation's resource is answered the same, so its ids
// do not leak). R4 update: a server that does not create resources by
// update answers 405, and the CapabilityStatement says updateCreate false.
// Allow lists what the URL does serve, PUT aside.
func (h *Handler) noUpdateCreate(r *http.Request, typ string) error {
	ae := newAPIError(http.StatusMethodNotAllowed, "not-supported", fmt.Sprintf(
		"%s/%s does not exist and this server does not create resources by update (updateCreate false): create a %s with POST",
		typ, r.PathValue("id"), typ))
	allow := slices.DeleteFunc(h.allowed(r), func(m string) bool { return m == http.MethodPut })
	ae.header = map[string]string{"Allow": strings.Join(allow, ", ")}
	return ae
}
