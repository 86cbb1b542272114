package api

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// loadRecord fetches a record a client may see: its referral must involve
// the client's organisation, or the record is reported as not found.
func (h *Handler) loadRecord(ctx context.Context, c *call, id string) (*gateway.Referral, gateway.Record, error) {
	c.id = id
	ref, rec, err := h.svc.RecordReferral(ctx, id)
	if err != nil {
		return nil, gateway.Record{}, err
	}
	if !visible(c.p, ref) {
		c.detail["reason"] = "not a party to the referral"
		return nil, gateway.Record{}, fmt.Errorf("record %s for %s: %w", id, c.p.OrgID, gateway.ErrNotFound)
	}
	c.tenants = parties(ref)
	c.detail["referral"] = ref.ID
	return ref, rec, nil
}

// recordHeaders are the headers of a record read: records never change,
// so their version is always 1.
func (h *Handler) recordHeaders(resource, id string, ref *gateway.Referral) map[string]string {
	return map[string]string{
		"ETag":          etag(1),
		"Last-Modified": ref.Created.UTC().Format(http.TimeFormat),
		"Location":      fmt.Sprintf("%s/%s/%s", h.cfg.BaseURL, resource, id),
	}
}

func (h *Handler) readDocumentReference(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "DocumentReference"
	if err := h.allow(r.Context(), c, "DocumentReference", smart.Read); err != nil {
		return 0, err
	}
	ref, rec, err := h.loadRecord(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return 0, err
	}
	d, err := documentReference(ref, rec)
	if err != nil {
		return 0, err
	}
	writeJSON(w, http.StatusOK, d, h.recordHeaders("DocumentReference", rec.ID, ref))
	return http.StatusOK, nil
}

// documentReference renders a record's metadata, linked to the referral's
// ServiceRequest.
func documentReference(ref *gateway.Referral, rec gateway.Record) (*fhir.DocumentReference, error) {
	d, err := mapping.NewDocumentReference(ref, rec)
	if err != nil {
		return nil, err
	}
	d.Meta = &fhir.Meta{VersionId: ptr("1"), LastUpdated: ptr(mapping.Instant(ref.Created))}
	d.Context = &fhir.DocumentReferenceContext{Related: []fhir.Reference{{Reference: ptr("ServiceRequest/" + ref.ID), Type: ptr("ServiceRequest")}}}
	return d, nil
}

// readBinary answers with the record's content decrypted from the store:
// as a Binary resource by default, or as the raw document when the client
// asks for the document's own media type (R4 Binary read).
func (h *Handler) readBinary(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Binary"
	ctx := r.Context()
	if err := h.allow(ctx, c, "Binary", smart.Read); err != nil {
		return 0, err
	}
	ref, rec, err := h.loadRecord(ctx, c, r.PathValue("id"))
	if err != nil {
		return 0, err
	}
	raw := wantsRaw(r.Header.Get("Accept"), rec.ContentType)
	if !raw { // then the answer is FHIR JSON, which Accept must take
		if err := acceptable(r, false); err != nil {
			return 0, err
		}
	}
	rc, err := h.svc.RecordContent(ctx, ref, rec)
	if err != nil {
		return 0, err
	}
	hdr := h.recordHeaders("Binary", rec.ID, ref)
	if raw {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", rec.ContentType)
		// R4 carries a raw Binary's securityContext in this header.
		w.Header().Set("X-Security-Context", "DocumentReference/"+rec.ID)
		w.Header().Set("Content-Length", strconv.Itoa(len(rc.Content)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(rc.Content)
		c.detail["raw"] = "true"
		return http.StatusOK, nil
	}
	b := mapping.NewBinary(rc)
	b.Meta = &fhir.Meta{VersionId: ptr("1"), LastUpdated: ptr(mapping.Instant(ref.Created))}
	b.SecurityContext = &fhir.Reference{Reference: ptr("DocumentReference/" + rec.ID), Type: ptr("DocumentReference")}
	writeJSON(w, http.StatusOK, b, hdr)
	return http.StatusOK, nil
}

// wantsRaw reports whether an Accept header asks for the document's own
// media type rather than FHIR JSON.
func wantsRaw(accept, contentType string) bool {
	want, _, err := mime.ParseMediaType(contentType)
	if err != nil || accept == "" {
		return false
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch {
		case mt == "application/fhir+json" || mt == "application/json":
			return false
		case mt == want:
			return true
		}
	}
	return false
}
