package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// precondition is a parsed If-Match or If-None-Match field (RFC 9110
// §13.1): "*" (any current version) or a list of entity tags, each a
// version of the resource, weak (W/"3", as the API sends them) or strong
// ("3"). FHIR versions are compared by number, so W/"3" and "3" are one.
type precondition struct {
	any      bool
	versions []int
}

// holds reports whether a resource at version matches the field.
func (p *precondition) holds(version int) bool {
	return p.any || slices.Contains(p.versions, version)
}

// readPrecondition parses the request's field name; nil when it is absent.
// A value that is not "*" or a list of version ETags is a 400 naming expr.
func readPrecondition(r *http.Request, name, expr string) (*precondition, error) {
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		return nil, nil
	}
	p := &precondition{}
	for _, v := range vals {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				p.any = true
				continue
			}
			n, ok := parseETag(tag)
			if !ok {
				return nil, newAPIError(http.StatusBadRequest, "value",
					fmt.Sprintf(`%s must be "*" or version ETags such as W/"3"`, name), expr)
			}
			p.versions = append(p.versions, n)
		}
	}
	return p, nil
}

// parseETag reads W/"n" (or "n") as version n.
func parseETag(s string) (int, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	v, err := strconv.Atoi(s[1 : len(s)-1])
	return v, err == nil && v > 0
}

// ifMatch checks If-Match against the current version of a resource of
// type typ, before the request's content is looked at (RFC 9110 §13.2.2):
// a version that is no longer current is 412. It returns the version the
// change must still find when it is stored (0: any), so that a change
// made between this check and the store is caught there too.
func ifMatch(r *http.Request, typ string, current int) (int, error) {
	p, err := readPrecondition(r, "If-Match", typ+".meta.versionId")
	if err != nil || p == nil {
		return 0, err
	}
	if !p.holds(current) {
		return 0, newAPIError(http.StatusPreconditionFailed, "conflict", fmt.Sprintf(
			"the %s is at version %d, not the one If-Match names; read it again", typ, current), typ+".meta.versionId")
	}
	if p.any {
		return 0, nil
	}
	return current, nil
}
