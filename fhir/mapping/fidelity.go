package mapping

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/gateway"
)

// storedOrder is what the gateway keeps of the requester's ServiceRequest
// (gateway.NewReferral.Order): the resource exactly as sent, and for each
// reference in it that pointed at another resource of the same request,
// which part of the referral that resource became ("Patient",
// "Practitioner", "Consent", or "DocumentReference#<n>" / "Binary#<n>" for
// the n-th record). References to the ServiceRequest's own contained
// resources and to anything outside the request are kept as sent.
type storedOrder struct {
	Resource   json.RawMessage   `json:"resource"`
	References map[string]string `json:"references,omitempty"`
}

// captureOrder records the ServiceRequest of a submission for
// gateway.NewReferral.Order.
func captureOrder(p *pool, srNode *node) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(srNode.raw, &doc); err != nil {
		return nil, invalid(srNode.path, "not a JSON object")
	}
	so := storedOrder{Resource: srNode.raw, References: map[string]string{}}
	eachReference(doc, func(ref string) string {
		target := p.resolve(srNode, ref)
		if target == nil || target.parent == srNode {
			return ref
		}
		switch {
		case target.record > 0:
			so.References[ref] = target.typ + "#" + strconv.Itoa(target.record-1)
		case slices.Contains([]string{"Patient", "Practitioner", "Consent"}, target.typ):
			so.References[ref] = target.typ
		}
		return ref
	})
	b, err := json.Marshal(so)
	if err != nil {
		return nil, fmt.Errorf("mapping: keep order: %w", err)
	}
	return b, nil
}

// eachReference calls fn with every Reference.reference in a decoded JSON
// value and stores what fn returns in its place.
func eachReference(v any, fn func(string) string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "reference" {
				x[k] = fn(s)
				continue
			}
			eachReference(val, fn)
		}
	case []any:
		for _, item := range x {
			eachReference(item, fn)
		}
	}
}

// openOrder decodes a stored order and resolves its references with part,
// which maps "Patient", "DocumentReference#0" etc. to a reference.
func openOrder(order []byte, part func(string) (string, bool)) (map[string]any, error) {
	var so storedOrder
	if err := json.Unmarshal(order, &so); err != nil {
		return nil, fmt.Errorf("mapping: stored order: %w", err)
	}
	var res map[string]any
	if err := json.Unmarshal(so.Resource, &res); err != nil {
		return nil, fmt.Errorf("mapping: stored order: %w", err)
	}
	eachReference(res, func(ref string) string {
		if p, ok := so.References[ref]; ok {
			if out, ok := part(p); ok {
				return out
			}
		}
		return ref
	})
	return res, nil
}

// recordIndex reads "DocumentReference#3" as ("DocumentReference", 3).
func recordIndex(part string) (string, int, bool) {
	typ, n, ok := strings.Cut(part, "#")
	i, err := strconv.Atoi(n)
	return typ, i, ok && err == nil && i >= 0
}

// RenderServiceRequest renders the referral's ServiceRequest. With the
// order the requester sent (order, as kept in gateway.Referral.Order) it
// is that resource unchanged (category, code, occurrence, instructions,
// extensions and primitive extensions included) except for what the
// gateway owns: id, meta.versionId and meta.lastUpdated, status (derived
// from the lifecycle), and references to other resources of the request,
// which point at where the gateway serves them. Without one it is
// NewServiceRequest.
func RenderServiceRequest(r *gateway.Referral, order []byte) (json.RawMessage, error) {
	if len(order) == 0 {
		sr, err := NewServiceRequest(r)
		if err != nil {
			return nil, err
		}
		return json.Marshal(sr)
	}
	res, err := openOrder(order, func(part string) (string, bool) {
		if typ, i, ok := recordIndex(part); ok {
			if i < len(r.Records) {
				return typ + "/" + r.Records[i].ID, true
			}
			return "", false
		}
		return part + "/" + r.ID, true
	})
	if err != nil {
		return nil, err
	}
	res["id"] = r.ID
	res["status"] = ServiceRequestStatus(r.Status)
	res["meta"] = mergeMeta(res["meta"], meta(r))
	return json.Marshal(res)
}

// mergeMeta keeps the requester's meta (profiles, tags, security labels)
// with the gateway's version, update time and sensitivity labels.
func mergeMeta(theirs any, ours *fhir.Meta) map[string]any {
	m, _ := theirs.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	delete(m, "versionId")
	delete(m, "lastUpdated")
	if ours == nil {
		return m
	}
	if ours.VersionId != nil {
		m["versionId"] = *ours.VersionId
	}
	if ours.LastUpdated != nil {
		m["lastUpdated"] = *ours.LastUpdated
	}
	sec, _ := m["security"].([]any)
	for _, c := range ours.Security {
		have := slices.ContainsFunc(sec, func(x any) bool {
			xm, _ := x.(map[string]any)
			return xm["system"] == str(c.System) && xm["code"] == str(c.Code)
		})
		if !have {
			sec = append(sec, map[string]any{"system": str(c.System), "code": str(c.Code)})
		}
	}
	if len(sec) > 0 {
		m["security"] = sec
	}
	return m
}
