package dirimport

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

// parsedResource is one Bundle.entry with what FHIRBundle made of it.
type parsedResource struct {
	row     int // 1-based Bundle.entry index
	fullURL string
	res     fhirResource
	entryID string // for the resource types that become directory entries
}

// kindOf maps the resource types that become directory entries.
var kindOf = map[string]gateway.EntryKind{
	"Organization":     gateway.KindOrganization,
	"Location":         gateway.KindLocation,
	"PractitionerRole": gateway.KindPractitioner,
}

// bundleParse is the state of one FHIRBundle call.
type bundleParse struct {
	res   []*parsedResource
	byRef map[string]*parsedResource // "Type/id" and fullUrl
}

// FHIRBundle reads a FHIR R4 Bundle of Organization, Location,
// Practitioner, PractitionerRole and Endpoint resources (Plan-Net style).
// Organizations, Locations and PractitionerRoles become entries, whose ids
// are their resource ids mended to the directory's id rules, ordered
// parents first. A document that is not a Bundle is an error; an unknown
// reference or unsupported endpoint is a RowError on the resource's entry.
func FHIRBundle(r io.Reader) (Rows, error) {
	var b fhirBundle
	dec := json.NewDecoder(r)
	if err := dec.Decode(&b); err != nil {
		return Rows{}, fmt.Errorf("fhir bundle: decode: %w", err)
	}
	if b.ResourceType != "Bundle" {
		return Rows{}, fmt.Errorf("fhir bundle: resourceType is %q, not Bundle", gateway.Truncate(b.ResourceType, 40))
	}
	p := &bundleParse{byRef: map[string]*parsedResource{}}
	var items []Item
	for i, be := range b.Entry {
		pr := &parsedResource{row: i + 1, fullURL: be.FullURL}
		if err := json.Unmarshal(be.Resource, &pr.res); err != nil || pr.res.ResourceType == "" {
			items = append(items, skipped(i+1, "resource", "not a FHIR resource"))
			continue
		}
		p.res = append(p.res, pr)
		if pr.res.ID != "" {
			p.byRef[pr.res.ResourceType+"/"+pr.res.ID] = pr
		}
		if pr.fullURL != "" {
			p.byRef[pr.fullURL] = pr
		}
	}
	p.assignIDs()
	var built []Item
	for _, pr := range p.res {
		switch pr.res.ResourceType {
		case "Organization", "Location", "PractitionerRole":
			built = append(built, p.entry(pr))
		case "Practitioner", "Endpoint":
			// read through the references of the others
		default:
			items = append(items, skipped(pr.row, pr.res.ResourceType, "resource type is not imported"))
		}
	}
	return ItemRows(append(items, parentsFirst(built)...)), nil
}

// skipped is an Item that only reports a row error.
func skipped(row int, field, reason string) Item {
	return Item{Row: row, Skipped: []RowError{{row, field, reason}}}
}

// assignIDs gives each entry-making resource a unique entry id, derived
// from its resource id (or its position when it has none).
func (p *bundleParse) assignIDs() {
	taken := map[string]bool{}
	for _, pr := range p.res {
		kind, ok := kindOf[pr.res.ResourceType]
		if !ok {
			continue
		}
		base := pr.res.ID
		if base == "" {
			base = fmt.Sprintf("%s-%d", kind, pr.row)
		}
		id := entryID(base)
		if taken[id] {
			id = entryID(string(kind) + "-" + base)
		}
		for n := 2; taken[id]; n++ {
			id = entryID(fmt.Sprintf("%s-%s-%d", kind, base, n))
		}
		taken[id] = true
		pr.entryID = id
	}
}

// resolve finds the resource a reference points at, by fullUrl or by its
// "Type/id" tail, and checks its type.
func (p *bundleParse) resolve(ref string, types ...string) (*parsedResource, error) {
	target, ok := p.byRef[ref]
	if !ok {
		tail := ref
		if i := strings.Index(tail, "/_history/"); i >= 0 {
			tail = tail[:i]
		}
		parts := strings.Split(tail, "/")
		if len(parts) >= 2 {
			target, ok = p.byRef[parts[len(parts)-2]+"/"+parts[len(parts)-1]]
		}
	}
	if !ok {
		return nil, fmt.Errorf("unknown reference %q (not in the bundle)", gateway.Truncate(ref, 80))
	}
	for _, t := range types {
		if target.res.ResourceType == t {
			return target, nil
		}
	}
	return nil, fmt.Errorf("reference %q is a %s, not a %s", gateway.Truncate(ref, 80), target.res.ResourceType, strings.Join(types, " or "))
}

// entry builds the directory entry of an Organization, Location or
// PractitionerRole. A broken reference skips the whole entry.
func (p *bundleParse) entry(pr *parsedResource) Item {
	res := &pr.res
	it := Item{Row: pr.row}
	where := res.ResourceType + "/" + res.ID
	fail := func(field string, err error) Item {
		it.Skipped = append(it.Skipped, RowError{pr.row, where + "." + field, err.Error()})
		it.Entry = nil
		return it
	}
	if res.Active != nil && !*res.Active {
		return fail("active", fmt.Errorf("inactive resources are not imported"))
	}
	e := &gateway.Entry{ID: pr.entryID, Kind: kindOf[res.ResourceType], NPI: npiOf(res.Identifier)}
	var parent *fhirReference
	parentField := ""
	switch res.ResourceType {
	case "Organization":
		e.Name, parent, parentField = stringName(res.Name), res.PartOf, "partOf"
	case "Location":
		e.Name, parent, parentField = stringName(res.Name), res.ManagingOrganization, "managingOrganization"
		if parent == nil {
			parent, parentField = res.PartOf, "partOf"
		}
	case "PractitionerRole":
		if err := p.practitioner(res, e); err != nil {
			return fail("practitioner", err)
		}
		parent, parentField = res.Organization, "organization"
		if parent == nil && len(res.Location) > 0 {
			parent, parentField = &res.Location[0], "location[0]"
		}
	}
	if parent != nil && parent.Reference != "" {
		target, err := p.resolve(parent.Reference, "Organization", "Location")
		if err != nil {
			return fail(parentField, err)
		}
		e.ParentID = target.entryID
	}
	for i, ref := range res.Endpoint {
		field := fmt.Sprintf("endpoint[%d]", i)
		target, err := p.resolve(ref.Reference, "Endpoint")
		if err != nil {
			return fail(field, err)
		}
		if reason := setEndpoint(e, &target.res); reason != "" {
			it.Skipped = append(it.Skipped, RowError{pr.row, where + "." + field, reason})
		}
	}
	it.Entry = e
	return it
}

// practitioner fills a PractitionerRole entry's name and NPI from the
// Practitioner it references (or the reference's display and identifier).
func (p *bundleParse) practitioner(res *fhirResource, e *gateway.Entry) error {
	ref := res.Practitioner
	if ref == nil {
		return fmt.Errorf("a PractitionerRole needs a practitioner")
	}
	if ref.Reference != "" {
		target, err := p.resolve(ref.Reference, "Practitioner")
		if err != nil {
			return err
		}
		e.Name = humanName(target.res.Name)
		if n := npiOf(target.res.Identifier); n != "" {
			e.NPI = n
		}
	}
	if e.Name == "" {
		e.Name = strings.TrimSpace(ref.Display)
	}
	if ref.Identifier != nil && ref.Identifier.System == npiSystem && e.NPI == "" {
		e.NPI = strings.TrimSpace(ref.Identifier.Value)
	}
	return nil
}

// setEndpoint puts a Direct or FHIR endpoint on e, or says why not.
func setEndpoint(e *gateway.Entry, ep *fhirResource) string {
	if ep.Status != "" && ep.Status != "active" {
		return fmt.Sprintf("endpoint status %q is not active", gateway.Truncate(ep.Status, 20))
	}
	addr := strings.TrimSpace(ep.Address)
	switch code := connectionCode(ep.ConnectionType); code {
	case codeDirect:
		if len(addr) > 7 && strings.EqualFold(addr[:7], "mailto:") {
			addr = addr[7:]
		}
		if err := gateway.ValidateDirectAddress(addr); err != nil {
			return "Direct address " + err.Error()
		}
		if e.Direct != nil && e.Direct.Address != addr {
			return "a second Direct address; the directory keeps one, the first"
		}
		e.Direct = &gateway.DirectEndpoint{Address: addr}
	case codeFHIRRest:
		if e.FHIR != nil && e.FHIR.BaseURL != addr {
			return "a second FHIR endpoint; the directory keeps one, the first"
		}
		e.FHIR = &gateway.FHIREndpoint{BaseURL: addr} // the URL is checked by the Service
	case "":
		return "endpoint has no connectionType code"
	default:
		return fmt.Sprintf("connection type %q is not imported (only %s and %s)", gateway.Truncate(code, 30), codeDirect, codeFHIRRest)
	}
	return ""
}

// parentsFirst orders items so that an entry follows the entry it names as
// parent; entries in a parent cycle are skipped.
func parentsFirst(items []Item) []Item {
	byID := map[string]int{}
	for i, it := range items {
		if it.Entry != nil {
			byID[it.Entry.ID] = i
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(items))
	out := make([]Item, 0, len(items))
	var visit func(i int) bool
	visit = func(i int) bool {
		switch state[i] {
		case done:
			return true
		case visiting:
			return false
		}
		state[i] = visiting
		ok := true
		if e := items[i].Entry; e != nil && e.ParentID != "" {
			if j, found := byID[e.ParentID]; found {
				ok = visit(j)
			}
		}
		state[i] = done
		it := items[i]
		if !ok && it.Entry != nil {
			it.Skipped = append(it.Skipped, RowError{it.Row, "parent", fmt.Sprintf("entry %s is in a cycle of parents", it.Entry.ID)})
			it.Entry = nil
		}
		out = append(out, it)
		return ok
	}
	for i := range items {
		visit(i)
	}
	return out
}
