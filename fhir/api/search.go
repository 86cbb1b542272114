package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// searchParams are the Task search parameters the API implements; any
// other parameter is refused rather than silently ignored.
var searchParams = []string{"_id", "identifier", "owner", "requester", "status", "business-status", "patient", "patient:identifier",
	"focus", "_lastUpdated", "_count", "_include", "_cursor"}

// taskSearch is a parsed Task search.
type taskSearch struct {
	q        gateway.ReferralQuery
	count    int
	include  bool
	controls *controls
	// none is set when a criterion can match nothing (a token naming a
	// system the element never has).
	none bool
}

// systemTaskStatus is the code system of Task.status.
const systemTaskStatus = "http://hl7.org/fhir/task-status"

// parseToken reads an R4 token criterion: "system|code" matches that
// system only, "|code" only codes without a system, "code" any system.
func parseToken(x string) gateway.Token {
	system, value, found := strings.Cut(x, "|")
	if !found {
		return gateway.Token{Value: x, AnySystem: true}
	}
	return gateway.Token{System: system, Value: value}
}

func (h *Handler) parseSearch(r *http.Request, v url.Values) (*taskSearch, error) {
	s := &taskSearch{count: h.cfg.DefaultCount}
	var err error
	if s.controls, err = searchControls(r, v, searchParams); err != nil {
		return nil, err
	}
	if err := once(v, "_lastUpdated", "_include"); err != nil {
		return nil, err
	}
	one := func(name string) string { return v.Get(name) }
	if x := one("_id"); x != "" {
		s.q.IDs = strings.Split(x, ",")
	}
	if x := one("focus"); x != "" {
		id := strings.TrimPrefix(x, "ServiceRequest/")
		if s.q.IDs != nil && !slices.Contains(s.q.IDs, id) {
			s.q.IDs = []string{"-"} // _id and focus disagree: nothing matches both
		} else {
			s.q.IDs = []string{id}
		}
	}
	if x := one("identifier"); x != "" {
		tok := parseToken(x)
		switch {
		case tok.AnySystem:
		case tok.System == "":
			s.none = true // every Task identifier has a system
		case tok.System == mapping.SystemReferralIdentifier:
			tok.System = "" // stored without its default system
		}
		s.q.Identifier = &tok
	}
	if x := one("owner"); x != "" {
		s.q.ReceiverID = lastSegment(x)
	}
	if x := one("requester"); x != "" {
		s.q.RequesterOrg = lastSegment(x)
	}
	if x := one("status"); x != "" {
		for _, st := range strings.Split(x, ",") {
			tok := parseToken(st)
			status, ok := mapping.TaskStatus(tok.Value)
			if !ok {
				return nil, newAPIError(http.StatusBadRequest, "value", "unknown Task status "+tok.Value, "status")
			}
			if tok.AnySystem || tok.System == systemTaskStatus {
				s.q.Statuses = append(s.q.Statuses, status)
			}
		}
		if len(s.q.Statuses) == 0 {
			s.none = true // only other code systems were named
		}
	}
	if x := one("business-status"); x != "" {
		tok := parseToken(x)
		if !tok.AnySystem && tok.System != "" {
			s.none = true // businessStatus is text without a code system
		}
		s.q.BusinessStatus = tok.Value
	}
	for _, name := range []string{"patient", "patient:identifier"} {
		if x := one(name); x != "" {
			if s.q.Patient != nil {
				return nil, newAPIError(http.StatusBadRequest, "value", "give patient or patient:identifier, not both", name)
			}
			tok := parseToken(strings.TrimPrefix(x, "Patient?identifier="))
			s.q.Patient = &tok
		}
	}
	for _, x := range v["_lastUpdated"] {
		if err := lastUpdated(x, &s.q); err != nil {
			return nil, err
		}
	}
	if s.count, err = h.pageSize(v, s.controls); err != nil {
		return nil, err
	}
	for _, inc := range v["_include"] {
		// A Task's focus is always its ServiceRequest, so the form naming
		// the target type means the same.
		if inc != "Task:focus" && inc != "Task:focus:ServiceRequest" {
			return nil, newAPIError(http.StatusBadRequest, "not-supported", "only _include=Task:focus (or Task:focus:ServiceRequest) is supported", "_include")
		}
		s.include = true
	}
	s.q.AfterID = one("_cursor")
	return s, nil
}

// withQuery appends the query to a search URL, leaving no bare "?".
func withQuery(base string, q url.Values) string {
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

// pageSize reads _count: the default when absent, at most MaxCount, and 0
// meaning the total only (R4: the same as _summary=count, which it sets).
func (h *Handler) pageSize(v url.Values, c *controls) (int, error) {
	x := v.Get("_count")
	if x == "" {
		return h.cfg.DefaultCount, nil
	}
	n, err := strconv.Atoi(x)
	if err != nil || n < 0 {
		return 0, newAPIError(http.StatusBadRequest, "value", "_count must be a non-negative integer", "_count")
	}
	if n == 0 {
		c.count = true
	}
	return max(1, min(n, h.cfg.MaxCount)), nil
}

// lastSegment reads "Organization/x" or "x" as x.
func lastSegment(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// lastUpdated applies one _lastUpdated=<prefix><date> bound. A date
// without a time stands for the whole day (or month, or year).
func lastUpdated(x string, q *gateway.ReferralQuery) error {
	prefix := "eq"
	if len(x) > 2 && x[0] >= 'a' && x[0] <= 'z' {
		prefix, x = x[:2], x[2:]
	}
	var start time.Time
	var next time.Time
	var err error
	for _, layout := range []struct {
		layout string
		step   func(time.Time) time.Time
	}{
		{time.RFC3339Nano, func(t time.Time) time.Time { return t.Add(time.Nanosecond) }},
		{"2006-01-02T15:04:05", func(t time.Time) time.Time { return t.Add(time.Second) }},
		{time.DateOnly, func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	} {
		if start, err = time.Parse(layout.layout, x); err == nil {
			start = start.UTC()
			next = layout.step(start)
			break
		}
	}
	if err != nil {
		return newAPIError(http.StatusBadRequest, "value", "_lastUpdated needs a FHIR date or instant")
	}
	from, to := time.Time{}, time.Time{}
	switch prefix {
	case "ge":
		from = start
	case "gt":
		from = next
	case "lt":
		to = start
	case "le":
		to = next
	case "eq":
		from, to = start, next
	default:
		return newAPIError(http.StatusBadRequest, "value", "_lastUpdated supports the prefixes eq, ge, gt, le and lt")
	}
	if !from.IsZero() && from.After(q.UpdatedFrom) {
		q.UpdatedFrom = from
	}
	if !to.IsZero() && (q.UpdatedTo.IsZero() || to.Before(q.UpdatedTo)) {
		q.UpdatedTo = to
	}
	return nil
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	c.resource = "Task"
	ctx := r.Context()
	if err := h.allow(ctx, c, "Task", smart.Search); err != nil {
		return 0, err
	}
	s, err := h.parseSearch(r, r.URL.Query())
	if err != nil {
		return 0, err
	}
	if s.include {
		if err := h.allowFor(ctx, c, "ServiceRequest", smart.Read, "_include=Task:focus returns the ServiceRequests"); err != nil {
			return 0, err
		}
	}
	s.q.InvolvesOrg = c.p.OrgID
	if s.none {
		s.q.IDs = []string{"-"}
	}
	if s.controls.count {
		return h.searchCount(w, r, c, s)
	}
	s.q.Limit = s.count + 1
	list, err := h.svc.ListReferrals(ctx, s.q)
	if err != nil {
		return 0, err
	}
	more := len(list) > s.count
	if more {
		list = list[:s.count]
	}
	b := newBundle("searchset")
	used := s.controls.used(r.URL.Query())
	b.Link = []fhir.BundleLink{{Relation: "self", Url: withQuery(h.cfg.BaseURL+"/Task", used)}}
	if more {
		next := used
		next.Set("_cursor", list[len(list)-1].ID)
		b.Link = append(b.Link, fhir.BundleLink{Relation: "next", Url: h.cfg.BaseURL + "/Task?" + next.Encode()})
	}
	match, include := fhir.SearchEntryModeMatch, fhir.SearchEntryModeInclude
	for _, ref := range list {
		if !visible(c.p, ref) { // the query already filters; this guards the guard
			continue
		}
		res, err := s.controls.subset(mapping.NewTask(ref))
		if err != nil {
			return 0, err
		}
		if err := b.add(h.cfg.BaseURL+"/Task/"+ref.ID, res, nil, nil, &fhir.BundleEntrySearch{Mode: &match}); err != nil {
			return 0, err
		}
	}
	if s.include {
		for _, ref := range list {
			sr, err := h.serviceRequest(r.Context(), ref)
			if err != nil {
				return 0, err
			}
			if err := b.add(h.cfg.BaseURL+"/ServiceRequest/"+ref.ID, sr, nil, nil, &fhir.BundleEntrySearch{Mode: &include}); err != nil {
				return 0, err
			}
		}
	}
	if err := s.controls.outcomeEntry(b); err != nil {
		return 0, err
	}
	c.detail["count"] = strconv.Itoa(len(list))
	writeJSON(w, http.StatusOK, b, nil)
	return http.StatusOK, nil
}

// searchCount answers _summary=count: the number of matches, no entries.
func (h *Handler) searchCount(w http.ResponseWriter, r *http.Request, c *call, s *taskSearch) (int, error) {
	total := 0
	s.q.Limit = 1000
	for {
		page, err := h.svc.ListReferrals(r.Context(), s.q)
		if err != nil {
			return 0, err
		}
		total += len(page)
		if len(page) < s.q.Limit {
			break
		}
		s.q.AfterID = page[len(page)-1].ID
	}
	b := newBundle("searchset")
	b.Total = &total
	b.Link = []fhir.BundleLink{{Relation: "self", Url: withQuery(h.cfg.BaseURL+"/Task", s.controls.used(r.URL.Query()))}}
	if err := s.controls.outcomeEntry(b); err != nil {
		return 0, err
	}
	c.detail["count"] = strconv.Itoa(total)
	writeJSON(w, http.StatusOK, b, nil)
	return http.StatusOK, nil
}
