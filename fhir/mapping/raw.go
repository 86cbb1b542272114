package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// node is one resource of the input, with its raw JSON kept so that what
// the generated types drop (contained, primitive extensions) can still be
// read, and its FHIRPath for error messages.
type node struct {
	typ       string
	id        string
	raw       json.RawMessage
	fields    map[string]json.RawMessage
	path      string
	parent    *node
	contained map[string]*node
	// used is set once the referral takes something from the node (a
	// transaction entry nobody uses would be silently dropped).
	used bool
	// record is 1 + the index in NewReferral.Records of the record this
	// DocumentReference or Binary became; 0 for other resources.
	record int
}

// required lists, per resource type, the elements the mapping needs and
// that a generated type would otherwise default silently.
var required = map[string][]string{
	"Task":              {"status", "intent"},
	"ServiceRequest":    {"status", "intent", "subject"},
	"DocumentReference": {"status", "content"},
	"Binary":            {"contentType"},
	"Consent":           {"status", "scope", "category"},
	"Bundle":            {"type"},
}

// parseNode reads one resource object, checks its required elements on the
// raw JSON and indexes its contained resources.
func parseNode(raw json.RawMessage, path string, parent *node) (*node, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		if parent == nil && !strings.Contains(path, "[") {
			return nil, &MalformedError{Err: err}
		}
		return nil, invalid(path, "not a JSON object")
	}
	n := &node{raw: raw, fields: fields, path: path, parent: parent}
	if err := unmarshalField(fields, "resourceType", &n.typ); err != nil || n.typ == "" {
		return nil, invalid(path+".resourceType", "required")
	}
	if parent == nil && !strings.Contains(path, ".") && path != n.typ && path != "" {
		return nil, invalid(path+".resourceType", "expected %s, found %s", path, n.typ)
	}
	_ = unmarshalField(fields, "id", &n.id)
	if _, ok := fields["modifierExtension"]; ok {
		return nil, invalid(path+".modifierExtension", "modifier extensions are not understood here and would change the meaning")
	}
	var errs []error
	for _, f := range required[n.typ] {
		if v, ok := fields[f]; !ok || string(v) == "null" || string(v) == `""` {
			reason := "required"
			if _, ok := fields["_"+f]; ok {
				reason = "required: a primitive extension (_" + f + ") carries no value"
			}
			errs = append(errs, invalid(path+"."+f, "%s", reason))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c, ok := fields["contained"]; ok {
		if parent != nil {
			return nil, invalid(path+".contained", "a contained resource cannot contain others")
		}
		var list []json.RawMessage
		if err := json.Unmarshal(c, &list); err != nil {
			return nil, invalid(path+".contained", "must be an array of resources")
		}
		n.contained = map[string]*node{}
		for i, item := range list {
			cn, err := parseNode(item, fmt.Sprintf("%s.contained[%d]", path, i), n)
			if err != nil {
				return nil, err
			}
			if cn.id == "" {
				return nil, invalid(cn.path+".id", "a contained resource needs an id")
			}
			n.contained[cn.id] = cn
		}
	}
	return n, nil
}

// decode unmarshals the node into a generated (or our own) type, turning a
// type mismatch into an InvalidError at the node.
func (n *node) decode(v any) error {
	if err := json.Unmarshal(n.raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(n.path+"."+te.Field, "wrong JSON type: %s", te.Value)
		}
		return invalid(n.path, "%v", err)
	}
	return nil
}

func unmarshalField(fields map[string]json.RawMessage, name string, v any) error {
	raw, ok := fields[name]
	if !ok {
		return errors.New("absent")
	}
	return json.Unmarshal(raw, v)
}

// pool resolves references among the resources of one input: bundle
// entries by fullUrl and Type/id, contained resources by #id.
type pool struct {
	byURL map[string]*node
}

func (p *pool) add(n *node, fullURL string) {
	if fullURL != "" {
		p.byURL[fullURL] = n
	}
	if n.id != "" {
		p.byURL[n.typ+"/"+n.id] = n
	}
	if i := strings.LastIndex(fullURL, "/"+n.typ+"/"); i >= 0 && strings.Contains(fullURL, "://") {
		p.byURL[fullURL[i+1:]] = n
	}
}

// resolve finds the resource reference points at from within n, or nil.
func (p *pool) resolve(from *node, reference string) *node {
	if reference == "" {
		return nil
	}
	if strings.HasPrefix(reference, "#") {
		for c := from; c != nil; c = c.parent {
			if hit := c.contained[reference[1:]]; hit != nil {
				hit.used = true
				return hit
			}
		}
		return nil
	}
	if p == nil {
		return nil
	}
	hit := p.byURL[reference]
	if hit != nil {
		hit.used = true
	}
	return hit
}

// refID returns the id of a relative reference "Type/id" of the wanted
// type, or "" when reference is something else.
func refID(reference, typ string) string {
	rest, ok := strings.CutPrefix(reference, typ+"/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return ""
	}
	return rest
}
