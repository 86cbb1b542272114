package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// linkURL returns the url of the Bundle link with the relation, or "".
func (b searchBundle) linkURL(relation string) string {
	for _, l := range b.Link {
		if l.Relation == relation {
			return l.URL
		}
	}
	return ""
}

// TestSearchCountZeroIsSummaryCount: R4 search treats _count=0 as
// _summary=count (the total, no entries, no paging links).
func TestSearchCountZeroIsSummaryCount(t *testing.T) {
	e := newEnv(t)
	e.createReferral(t, "C0-1", "draft")
	e.createReferral(t, "C0-2", "draft")
	var b struct {
		Type  string
		Total *int
		Entry []any
	}
	var links searchBundle
	res := e.do(t, e.token(t, "ehr-north"), "GET", "/fhir/Task?status=draft&_count=0", nil).want(t, http.StatusOK)
	res.decode(t, &b)
	res.decode(t, &links)
	if b.Type != "searchset" || b.Total == nil || *b.Total != 2 || len(b.Entry) != 0 || links.linkURL("next") != "" {
		t.Errorf("_count=0 answered %s", res.body)
	}
}

// TestSearchSelfLinkNamesOnlyUsedParameters: R4 search says the self link
// carries the parameters the server actually used, so a client can tell
// which of its criteria were ignored under lenient handling; the next link
// must not carry them either.
func TestSearchSelfLinkNamesOnlyUsedParameters(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"SL-1", "SL-2", "SL-3"} {
		e.createReferral(t, id, "draft")
	}
	tok := e.token(t, "ehr-north")
	params := func(t *testing.T, link string) url.Values {
		t.Helper()
		u, err := url.Parse(link)
		if err != nil || link == "" {
			t.Fatalf("link %q: %v", link, err)
		}
		return u.Query()
	}
	var b searchBundle
	e.do(t, tok, "GET", "/fhir/Task?status=draft&status:not=draft&color=red&_sort=-_lastUpdated&_summary=text&_count=2", nil).
		want(t, http.StatusOK).decode(t, &b)
	self, next := params(t, b.linkURL("self")), params(t, b.linkURL("next"))
	for _, name := range []string{"status:not", "color", "_sort", "_summary"} {
		if self.Has(name) || next.Has(name) {
			t.Errorf("ignored parameter %s is in the links: self %s, next %s", name, b.linkURL("self"), b.linkURL("next"))
		}
	}
	if self.Get("status") != "draft" || self.Get("_count") != "2" || next.Get("status") != "draft" || next.Get("_cursor") == "" {
		t.Errorf("used parameters missing: self %s, next %s", b.linkURL("self"), b.linkURL("next"))
	}
	if !strings.HasPrefix(b.linkURL("self"), e.srv.URL+"/fhir/Task?") {
		t.Errorf("self link %s", b.linkURL("self"))
	}

	e.subscribe(t, "ehr-north", subscriptionBody("off", "Task?requester=org-north", "https://ehr.example.org/hook", ""))
	b = searchBundle{}
	e.do(t, tok, "GET", "/fhir/Subscription?status=off&color=red", nil).want(t, http.StatusOK).decode(t, &b)
	self = params(t, b.linkURL("self"))
	if self.Has("color") || self.Get("status") != "off" {
		t.Errorf("Subscription self link %s", b.linkURL("self"))
	}
}
