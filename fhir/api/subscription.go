package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/subscription"
	"github.com/referralgw/gateway/gateway"
)

// subscriptionParams are the Subscription search parameters implemented.
var subscriptionParams = []string{"_id", "status", "criteria", "type", "url", "payload", "_count", "_cursor"}

// owner is the subscription owner behind a call.
func (c *call) owner() subscription.Owner {
	return subscription.Owner{OrgID: c.p.OrgID, ClientID: c.p.ClientID}
}

// subscriptionHeaders are the headers of a single-Subscription response.
// Location names the version, as R4 create requires; it resolves by
// vread while the version is current (earlier versions are not kept).
func (h *Handler) subscriptionHeaders(s *subscription.Subscription) map[string]string {
	return map[string]string{
		"ETag":          etag(s.Version),
		"Last-Modified": s.Updated.UTC().Format(http.TimeFormat),
		"Location":      fmt.Sprintf("%s/Subscription/%s/_history/%d", h.cfg.BaseURL, s.ID, s.Version),
	}
}

// subscriptionError turns the registry's version conflict into the
// Subscription's own outcome; everything else maps in outcomeFor.
func subscriptionError(err error) error {
	if errors.Is(err, gateway.ErrConflict) {
		return newAPIError(http.StatusPreconditionFailed, "conflict", "the Subscription changed since the version named in If-Match; read it again", "Subscription.meta.versionId")
	}
	return err
}

func (h *Handler) createSubscription(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Subscription"
	if err := h.allow(r.Context(), c, "Subscription", smart.Create); err != nil {
		return 0, err
	}
	if r.Header.Get("If-None-Exist") != "" {
		// Ignoring the condition would make a retry a second subscription.
		return 0, newAPIError(http.StatusBadRequest, "not-supported",
			"conditional create is not supported for Subscription (conditionalCreate is false in /fhir/metadata); create it without If-None-Exist")
	}
	b, err := readBody(r)
	if err != nil {
		return 0, err
	}
	res, err := subscription.Parse(b)
	if err != nil {
		return 0, err
	}
	if err := h.allowNotifications(r.Context(), c, res); err != nil {
		return 0, err
	}
	s, err := h.subs.Create(r.Context(), c.owner(), res)
	if err != nil {
		return 0, err
	}
	c.detail["id"] = s.ID
	writeJSON(w, http.StatusCreated, s.Resource(), h.subscriptionHeaders(s))
	return http.StatusCreated, nil
}

func (h *Handler) readSubscription(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	return h.serveSubscription(w, r, c, "")
}

// vreadSubscription serves the current version by its version id; only
// that version is kept, so any other is not found.
func (h *Handler) vreadSubscription(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	return h.serveSubscription(w, r, c, r.PathValue("vid"))
}

// serveSubscription answers a read of the organisation's Subscription, or
// a vread when vid is set.
func (h *Handler) serveSubscription(w http.ResponseWriter, r *http.Request, c *call, vid string) (int, error) {
	c.resource = "Subscription"
	if err := h.allow(r.Context(), c, "Subscription", smart.Read); err != nil {
		return 0, err
	}
	c.detail["id"] = r.PathValue("id")
	s, err := h.subs.Get(r.Context(), c.p.OrgID, r.PathValue("id"))
	if err != nil {
		return 0, err
	}
	if v, err := strconv.Atoi(vid); vid != "" && (err != nil || v != s.Version) {
		return 0, newAPIError(http.StatusNotFound, "not-found", "no such version: only the current version of a Subscription is kept")
	}
	writeJSON(w, http.StatusOK, s.Resource(), h.subscriptionHeaders(s))
	return http.StatusOK, nil
}

func (h *Handler) updateSubscription(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Subscription"
	if err := h.allow(r.Context(), c, "Subscription", smart.Update); err != nil {
		return 0, err
	}
	id := r.PathValue("id")
	c.detail["id"] = id
	version, err := h.subscriptionIfMatch(r, c, id)
	if err != nil {
		return 0, err
	}
	b, err := readBody(r)
	if err != nil {
		return 0, err
	}
	res, err := subscription.Parse(b)
	if err != nil {
		return 0, err
	}
	if res.ID != id {
		return 0, newAPIError(http.StatusBadRequest, "invariant", "the Subscription id must match the URL", "Subscription.id")
	}
	if err := h.allowNotifications(r.Context(), c, res); err != nil {
		return 0, err
	}
	s, err := h.subs.Update(r.Context(), c.owner(), id, version, res)
	if errors.Is(err, gateway.ErrNotFound) {
		return 0, h.noUpdateCreate(r, "Subscription")
	}
	if err != nil {
		return 0, subscriptionError(err)
	}
	c.detail["subscriptionStatus"] = string(s.Status)
	writeJSON(w, http.StatusOK, s.Resource(), h.subscriptionHeaders(s))
	return http.StatusOK, nil
}

// allowNotifications checks the scopes of what a subscription's
// notifications do for its client: the server runs the criteria as a
// search of their type for it (search scope), and a payload sends it the
// matching resources themselves (read scope). The Subscription scope only
// covers the Subscription resource.
func (h *Handler) allowNotifications(ctx context.Context, c *call, res *subscription.Resource) error {
	if _, err := subscription.ParseCriteria(res.Criteria); err != nil {
		return nil // criteria this server does not run: Validate refuses them
	}
	typ, _, _ := strings.Cut(res.Criteria, "?")
	if err := h.allow(ctx, c, typ, smart.Search); err != nil {
		return err
	}
	if res.Channel != nil && res.Channel.Payload != "" {
		return h.allow(ctx, c, typ, smart.Read)
	}
	return nil
}

// subscriptionIfMatch checks If-Match against the organisation's
// Subscription id before the request's content is looked at, and returns
// the version the change must still find when stored (0: any; also
// without If-Match, when the last writer wins). meta.versionId in a body
// is ignored, as R4 update requires. A Subscription that does not exist
// (for this organisation) is the 405 of an update that would create.
func (h *Handler) subscriptionIfMatch(r *http.Request, c *call, id string) (int, error) {
	p, err := readPrecondition(r, "If-Match", "Subscription.meta.versionId")
	if err != nil || p == nil {
		return 0, err
	}
	cur, err := h.subs.Get(r.Context(), c.p.OrgID, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return 0, h.noUpdateCreate(r, "Subscription")
	}
	if err != nil {
		return 0, err
	}
	return ifMatch(r, "Subscription", cur.Version)
}

func (h *Handler) deleteSubscription(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Subscription"
	if err := h.allow(r.Context(), c, "Subscription", smart.Delete); err != nil {
		return 0, err
	}
	c.detail["id"] = r.PathValue("id")
	// If-Match makes the delete conditional on the version (RFC 9110
	// §13.1.1): nothing there, or another version, is 412.
	// The version is checked where the delete happens, with the
	// subscription locked: a change between a check and the delete would
	// otherwise be deleted unseen.
	if p, err := readPrecondition(r, "If-Match", "Subscription.meta.versionId"); err != nil {
		return 0, err
	} else if p != nil {
		err := h.subs.DeleteIf(r.Context(), c.p.OrgID, r.PathValue("id"), p.holds)
		var vc *gateway.VersionConflict
		switch {
		case errors.Is(err, gateway.ErrNotFound):
			return 0, newAPIError(http.StatusPreconditionFailed, "conflict", "If-Match names a version, but there is no such Subscription (of yours) to delete", "Subscription.meta.versionId")
		case errors.As(err, &vc):
			return 0, newAPIError(http.StatusPreconditionFailed, "conflict", fmt.Sprintf(
				"the Subscription is at version %d, not the one If-Match names; read it again", vc.Version), "Subscription.meta.versionId")
		case err != nil:
			return 0, err
		}
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, nil
	}
	// R4: deleting what does not exist (here: nothing of the client's
	// own by that id) is answered like a delete, so a retry is safe.
	if err := h.subs.Delete(r.Context(), c.p.OrgID, r.PathValue("id")); err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return 0, err
	} else if err != nil {
		c.detail["absent"] = "true"
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent, nil
}

func (h *Handler) searchSubscriptions(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Subscription"
	if err := h.allow(r.Context(), c, "Subscription", smart.Search); err != nil {
		return 0, err
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, newAPIError(http.StatusBadRequest, "structure", "malformed query string")
	}
	ctl, err := searchControls(r, v, subscriptionParams)
	if err != nil {
		return 0, err
	}
	if err := once(v); err != nil {
		return 0, err
	}
	keep, err := subscriptionFilter(v)
	if err != nil {
		return 0, err
	}
	count, err := h.pageSize(v, ctl)
	if err != nil {
		return 0, err
	}
	all, err := h.subs.List(r.Context(), c.p.OrgID)
	if err != nil {
		return 0, err
	}
	// Keyset paging in id order (sorted here, so the cursor comparison and
	// the order agree whatever the store's collation): the page is the
	// matches after _cursor, at most count of them.
	slices.SortFunc(all, func(a, b *subscription.Subscription) int { return strings.Compare(a.ID, b.ID) })
	var page []*subscription.Subscription
	n, cursor, more := 0, v.Get("_cursor"), false
	for _, s := range all {
		if !keep(s) {
			continue
		}
		n++
		switch {
		case ctl.count || (cursor != "" && s.ID <= cursor):
		case len(page) == count:
			more = true
		default:
			page = append(page, s)
		}
	}
	b := newBundle("searchset")
	used := ctl.used(r.URL.Query())
	b.Link = []fhir.BundleLink{{Relation: "self", Url: withQuery(h.cfg.BaseURL+"/Subscription", used)}}
	if more {
		used.Set("_cursor", page[len(page)-1].ID)
		b.Link = append(b.Link, fhir.BundleLink{Relation: "next", Url: h.cfg.BaseURL + "/Subscription?" + used.Encode()})
	}
	match := fhir.SearchEntryModeMatch
	for _, s := range page {
		res, err := ctl.subset(s.Resource())
		if err != nil {
			return 0, err
		}
		if err := b.add(h.cfg.BaseURL+"/Subscription/"+s.ID, res, nil, nil, &fhir.BundleEntrySearch{Mode: &match}); err != nil {
			return 0, err
		}
	}
	b.Total = &n
	if err := ctl.outcomeEntry(b); err != nil {
		return 0, err
	}
	c.detail["count"] = strconv.Itoa(n)
	writeJSON(w, http.StatusOK, b, nil)
	return http.StatusOK, nil
}

// subscriptionFilter reads the search parameters into a predicate. Each
// takes a comma-separated list of values, any of which matches.
func subscriptionFilter(v url.Values) (func(*subscription.Subscription) bool, error) {
	list := func(name string) []string {
		if x := v.Get(name); x != "" {
			return strings.Split(x, ",")
		}
		return nil
	}
	var criteria []string
	for _, x := range list("criteria") {
		c, err := subscription.ParseCriteria(x)
		if err != nil {
			return nil, newAPIError(http.StatusBadRequest, "value", "criteria must be Task?owner=... or Task?requester=...")
		}
		criteria = append(criteria, c.String())
	}
	ids, statuses, types, urls, payloads := list("_id"), list("status"), list("type"), list("url"), list("payload")
	in := func(vals []string, x string) bool { return vals == nil || slices.Contains(vals, x) }
	return func(s *subscription.Subscription) bool {
		return in(ids, s.ID) && in(statuses, string(s.Status)) && in(criteria, s.Criteria.String()) &&
			in(types, "rest-hook") && in(urls, s.Endpoint) && in(payloads, s.Payload)
	}, nil
}

// subscriptionOutcome maps a subscription refusal: malformed JSON is 400,
// criteria naming another organisation 403, any other content 422.
func subscriptionOutcome(se *subscription.Error) (int, Issue) {
	status := http.StatusUnprocessableEntity
	switch se.Code {
	case "structure":
		status = http.StatusBadRequest
	case "too-costly":
		status = http.StatusRequestEntityTooLarge
	case "forbidden":
		status = http.StatusForbidden
	}
	is := Issue{Severity: "error", Code: se.Code, Diagnostics: se.Reason}
	if se.Expression != "" {
		is.Expression = []string{se.Expression}
	}
	return status, is
}
