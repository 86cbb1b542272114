package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// The general parameters every interaction accepts; search also takes
// _summary and _elements (see searchControls).
const (
	paramFormat = "_format"
	paramPretty = "_pretty"
)

// jsonFormats are the _format values and Accept media types answered with
// FHIR JSON.
var jsonFormats = []string{"json", "application/json", "application/fhir+json", "*/*", "application/*"}

// acceptable reports whether the client can take FHIR JSON, by _format or
// Accept. rawOK is set on a Binary read, whose document travels as itself.
func acceptable(r *http.Request, rawOK bool) error {
	if f := r.URL.Query().Get(paramFormat); f != "" {
		mt, _, err := mime.ParseMediaType(f)
		if err != nil || !slices.Contains(jsonFormats, strings.ToLower(mt)) {
			return newAPIError(http.StatusNotAcceptable, "not-supported",
				fmt.Sprintf("_format %q is not served: this server speaks application/fhir+json only", f), paramFormat)
		}
		return nil
	}
	accept := r.Header.Get("Accept")
	if accept == "" || rawOK {
		return nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && slices.Contains(jsonFormats, strings.ToLower(mt)) {
			return nil
		}
	}
	return newAPIError(http.StatusNotAcceptable, "not-supported",
		"Accept names no media type this server answers with: it speaks application/fhir+json only (XML is not supported)")
}

// strict reports whether the client asked for strict handling of unknown
// parameters (Prefer: handling=strict); the default is lenient.
func strict(r *http.Request) bool { return prefers(r, "handling=strict") }

// preferMinimal reports Prefer: return=minimal.
func preferMinimal(r *http.Request) bool { return prefers(r, "return=minimal") }

// prefers reports whether a Prefer header names the preference. RFC 7240
// separates preferences with commas (in one header or several); a
// semicolon-separated list is read the same way, as clients send both.
func prefers(r *http.Request, pref string) bool {
	for _, h := range r.Header.Values("Prefer") {
		for _, part := range strings.FieldsFunc(h, func(c rune) bool { return c == ',' || c == ';' }) {
			// BWS around "=" and a quoted value are allowed (RFC 7240 §2).
			if strings.EqualFold(strings.NewReplacer(" ", "", "\t", "", `"`, "").Replace(part), pref) {
				return true
			}
		}
	}
	return false
}

// controls are the general search parameters of one search.
type controls struct {
	ignored  []string // parameters dropped under lenient handling, as reported
	dropped  []string // their names in the query
	count    bool     // _summary=count: the total only
	elements []string // _elements: the top-level elements to keep
}

// searchControls reads _summary and _elements, and removes from v every
// parameter that is not in known: under strict handling that is a 400,
// otherwise it is ignored and reported in the Bundle (see outcomeEntry).
func searchControls(r *http.Request, v url.Values, known []string) (*controls, error) {
	c := &controls{}
	for name := range v {
		switch name {
		case paramFormat, paramPretty:
			delete(v, name)
			continue
		case "_summary":
			switch s := v.Get(name); s {
			case "count":
				c.count = true
			case "false", "data": // full resources; this server renders no narrative
			default:
				if strict(r) {
					return nil, newAPIError(http.StatusBadRequest, "not-supported", "_summary supports count, data and false", "_summary")
				}
				c.ignored = append(c.ignored, "_summary="+s)
				c.dropped = append(c.dropped, name)
			}
			delete(v, name)
			continue
		case "_elements":
			for _, x := range v[name] {
				for _, el := range strings.Split(x, ",") {
					if el = strings.TrimSpace(el); el != "" {
						c.elements = append(c.elements, el)
					}
				}
			}
			delete(v, name)
			continue
		}
		if slices.Contains(known, name) {
			continue
		}
		if strict(r) {
			return nil, newAPIError(http.StatusBadRequest, "not-supported", "unsupported search parameter "+name, name)
		}
		c.ignored = append(c.ignored, name)
		c.dropped = append(c.dropped, name)
		delete(v, name)
	}
	slices.Sort(c.ignored)
	return c, nil
}

// used returns the query without the parameters a lenient search ignored:
// R4 has the self link carry only the parameters actually applied, so a
// client can see which of its criteria were not.
func (c *controls) used(q url.Values) url.Values {
	out := url.Values{}
	for name, vals := range q {
		if !slices.Contains(c.dropped, name) {
			out[name] = vals
		}
	}
	return out
}

// once refuses a search parameter given more than once: R4 reads a repeat
// as AND (all values must match), which these criteria do not implement,
// and quietly using one value would answer a different search. repeatable
// names the parameters that do take repeats.
func once(v url.Values, repeatable ...string) error {
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if len(v[name]) > 1 && !slices.Contains(repeatable, name) {
			return newAPIError(http.StatusBadRequest, "not-supported",
				name+" may be given once: a repeated parameter means all values must match, which is not supported (comma-separated values match any)", name)
		}
	}
	return nil
}

// outcomeEntry adds the OperationOutcome that tells a lenient search which
// parameters it ignored.
func (c *controls) outcomeEntry(b *bundle) error {
	if len(c.ignored) == 0 {
		return nil
	}
	oo := OperationOutcome{ResourceType: "OperationOutcome"}
	for _, p := range c.ignored {
		oo.Issue = append(oo.Issue, Issue{Severity: "warning", Code: "not-supported",
			Diagnostics: "search parameter " + p + " is not supported and was ignored (send Prefer: handling=strict to have it refused)"})
	}
	mode := fhir.SearchEntryModeOutcome
	return b.add("", oo, nil, nil, &fhir.BundleEntrySearch{Mode: &mode})
}

// subset keeps the elements _elements asks for (and those every resource
// needs), marking the resource SUBSETTED as R4 requires.
func (c *controls) subset(res any) (any, error) {
	if len(c.elements) == 0 {
		return res, nil
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k := range m {
		if k != "resourceType" && k != "id" && k != "meta" && !slices.Contains(c.elements, k) {
			delete(m, k)
		}
	}
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"})
	m["meta"] = meta
	return m, nil
}

// responseWriter applies _pretty and Prefer: return=minimal to a
// successful response, and If-None-Match to a read; error responses go
// out whole.
type responseWriter struct {
	http.ResponseWriter
	pretty, minimal bool
	// ifNoneMatch is a read's If-None-Match: a 200 whose ETag it names
	// goes out as 304 without a body (RFC 9110 §13.1.2).
	ifNoneMatch *precondition
	status      int
	buf         bytes.Buffer
}

// unchanged reports a 200 that If-None-Match turns into a 304.
func (w *responseWriter) unchanged(status int) bool {
	if status != http.StatusOK || w.ifNoneMatch == nil {
		return false
	}
	v, ok := parseETag(w.Header().Get("ETag"))
	return ok && w.ifNoneMatch.holds(v)
}

func (w *responseWriter) WriteHeader(status int) {
	if w.unchanged(status) {
		w.status = http.StatusNotModified
		w.Header().Del("Content-Type")
		w.Header().Del("Content-Length")
		w.ResponseWriter.WriteHeader(w.status)
		return
	}
	w.status = status
	if status >= 300 || (!w.pretty && !w.minimal) {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	if w.minimal {
		w.Header().Del("Content-Type")
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.status == http.StatusNotModified:
		return len(b), nil
	case w.status >= 300 || (!w.pretty && !w.minimal):
		return w.ResponseWriter.Write(b)
	case w.minimal:
		return len(b), nil
	}
	return w.buf.Write(b)
}

// finish writes a buffered pretty body.
func (w *responseWriter) finish() {
	if !w.pretty || w.minimal || w.status >= 300 || w.status == 0 {
		return
	}
	var out bytes.Buffer
	if json.Indent(&out, w.buf.Bytes(), "", "  ") != nil {
		out = w.buf
	}
	w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(out.Bytes())
}
