package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// etag is the weak ETag of a referral version.
func etag(version int) string { return `W/"` + strconv.Itoa(version) + `"` }

// versionHeaders are the headers of a single-resource response.
func (h *Handler) versionHeaders(resource string, r *gateway.Referral) map[string]string {
	return map[string]string{
		"ETag":          etag(r.Version),
		"Last-Modified": r.Updated.UTC().Format(http.TimeFormat),
		"Location":      fmt.Sprintf("%s/%s/%s/_history/%d", h.cfg.BaseURL, resource, r.ID, r.Version),
	}
}

// load fetches a referral the client may see; anything else is not found.
func (h *Handler) load(ctx context.Context, c *call, id string) (*gateway.Referral, error) {
	c.id = id
	r, _, err := h.svc.Referral(ctx, id)
	if err != nil {
		return nil, err
	}
	if !visible(c.p, r) {
		c.detail["reason"] = "not a party to the referral"
		return nil, fmt.Errorf("referral %s for %s: %w", id, c.p.OrgID, gateway.ErrNotFound)
	}
	c.tenants = parties(r)
	return r, nil
}

func (h *Handler) readTask(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Task"
	if err := h.allow(r.Context(), c, "Task", smart.Read); err != nil {
		return 0, err
	}
	ref, err := h.load(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return 0, err
	}
	writeJSON(w, http.StatusOK, mapping.NewTask(ref), h.versionHeaders("Task", ref))
	return http.StatusOK, nil
}

func (h *Handler) readServiceRequest(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "ServiceRequest"
	if err := h.allow(r.Context(), c, "ServiceRequest", smart.Read); err != nil {
		return 0, err
	}
	ref, err := h.load(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return 0, err
	}
	sr, err := h.serviceRequest(r.Context(), ref)
	if err != nil {
		return 0, err
	}
	writeJSON(w, http.StatusOK, sr, h.versionHeaders("ServiceRequest", ref))
	return http.StatusOK, nil
}

func (h *Handler) vread(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	return h.vreadAs(w, r, c, "Task")
}

func (h *Handler) vreadServiceRequest(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	return h.vreadAs(w, r, c, "ServiceRequest")
}

// vreadAs serves a past version of the referral's Task or ServiceRequest.
func (h *Handler) vreadAs(w http.ResponseWriter, r *http.Request, c *call, resource string) (int, error) {
	c.resource = resource
	if err := h.allow(r.Context(), c, resource, smart.Read); err != nil {
		return 0, err
	}
	vid, err := strconv.Atoi(r.PathValue("vid"))
	if err != nil || vid < 1 {
		return 0, newAPIError(http.StatusNotFound, "not-found", "no such version")
	}
	if _, err := h.load(r.Context(), c, r.PathValue("id")); err != nil {
		return 0, err
	}
	c.detail["version"] = strconv.Itoa(vid)
	old, err := h.svc.ReferralVersion(r.Context(), c.id, vid)
	if err != nil {
		return 0, err
	}
	var res any = mapping.NewTask(old)
	if resource == "ServiceRequest" {
		if res, err = h.serviceRequest(r.Context(), old); err != nil {
			return 0, err
		}
	}
	writeJSON(w, http.StatusOK, res, h.versionHeaders(resource, old))
	return http.StatusOK, nil
}

func (h *Handler) history(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Task"
	if err := h.allow(r.Context(), c, "Task", smart.Read); err != nil {
		return 0, err
	}
	if _, err := h.load(r.Context(), c, r.PathValue("id")); err != nil {
		return 0, err
	}
	q := r.URL.Query()
	ctl := &controls{}
	count, err := h.pageSize(q, ctl)
	if err != nil {
		return 0, err
	}
	var since time.Time
	if x := q.Get("_since"); x != "" {
		if since, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return 0, newAPIError(http.StatusBadRequest, "value", "_since must be a FHIR instant such as 2026-03-02T09:00:00Z", "_since")
		}
	}
	before := 0 // the paging cursor: versions below this one
	if x := q.Get("_cursor"); x != "" {
		if before, err = strconv.Atoi(x); err != nil || before < 1 {
			return 0, newAPIError(http.StatusBadRequest, "value", "_cursor is not one this server issued", "_cursor")
		}
	}
	versions, err := h.svc.ReferralVersions(r.Context(), c.id)
	if err != nil {
		return 0, err
	}
	if len(versions) == 0 {
		return 0, gateway.ErrNotFound
	}
	// Newest first, those made at or after _since, then the page of count
	// after the cursor.
	var page []*gateway.Referral
	total, more := 0, false
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		if v.Updated.Before(since) {
			continue
		}
		total++
		switch {
		case ctl.count || (before > 0 && v.Version >= before):
		case len(page) == count:
			more = true
		default:
			page = append(page, v)
		}
	}
	used := url.Values{}
	for _, name := range []string{"_count", "_since", "_cursor", paramFormat, paramPretty} {
		if x, ok := q[name]; ok {
			used[name] = x
		}
	}
	b := newBundle("history")
	self := h.cfg.BaseURL + "/Task/" + c.id + "/_history"
	b.Link = []fhir.BundleLink{{Relation: "self", Url: withQuery(self, used)}}
	if more {
		used.Set("_cursor", strconv.Itoa(page[len(page)-1].Version))
		b.Link = append(b.Link, fhir.BundleLink{Relation: "next", Url: withQuery(self, used)})
	}
	if ctl.count {
		b.Total = &total
	}
	for _, v := range page {
		method, status := fhir.HTTPVerbPUT, "200 OK"
		if v.Version == 1 {
			method, status = fhir.HTTPVerbPOST, "201 Created"
		}
		if err := b.add(h.cfg.BaseURL+"/Task/"+v.ID, mapping.NewTask(v), &fhir.BundleEntryRequest{Method: method, Url: "Task/" + v.ID},
			&fhir.BundleEntryResponse{Status: status, Etag: ptr(etag(v.Version)), LastModified: ptr(mapping.Instant(v.Updated))}, nil); err != nil {
			return 0, err
		}
	}
	c.detail["count"] = strconv.Itoa(len(page))
	writeJSON(w, http.StatusOK, b, nil)
	return http.StatusOK, nil
}

func ptr[T any](v T) *T { return &v }

// serviceRequest renders the referral's ServiceRequest: the requester's
// own, kept unchanged, when it came through FHIR.
func (h *Handler) serviceRequest(ctx context.Context, ref *gateway.Referral) (json.RawMessage, error) {
	order, err := h.svc.Order(ctx, ref)
	if err != nil {
		return nil, err
	}
	return mapping.RenderServiceRequest(ref, order)
}
