package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// patchOp is one RFC 6902 JSON Patch operation.
type patchOp struct {
	Op    string           `json:"op"`
	Path  *string          `json:"path"`
	From  *string          `json:"from"`
	Value *json.RawMessage `json:"value"`
}

// errPatch reports a patch that cannot be applied (RFC 6902 §5: the whole
// patch fails).
var errPatch = errors.New("json patch")

// applyPatch applies an RFC 6902 patch document to doc and returns the
// result. It supports add, remove, replace, move, copy and test.
func applyPatch(doc, patch []byte) ([]byte, error) {
	var ops []patchOp
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, fmt.Errorf("%w: not a JSON array of operations: %v", errPatch, err)
	}
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("%w: target: %v", errPatch, err)
	}
	for i, o := range ops {
		if o.Path == nil {
			return nil, fmt.Errorf("%w: operation %d has no path", errPatch, i)
		}
		var err error
		if root, err = applyOp(root, o); err != nil {
			return nil, fmt.Errorf("%w: operation %d (%s %s): %v", errPatch, i, o.Op, *o.Path, err)
		}
	}
	return json.Marshal(root)
}

func applyOp(root any, o patchOp) (any, error) {
	value := func() (any, error) {
		if o.Value == nil {
			return nil, errors.New("value required")
		}
		var v any
		err := json.Unmarshal(*o.Value, &v)
		return v, err
	}
	switch o.Op {
	case "add":
		v, err := value()
		if err != nil {
			return nil, err
		}
		return put(root, *o.Path, v, true)
	case "replace":
		v, err := value()
		if err != nil {
			return nil, err
		}
		if _, err := get(root, *o.Path); err != nil {
			return nil, err
		}
		return put(root, *o.Path, v, false)
	case "remove":
		root, _, err := remove(root, *o.Path)
		return root, err
	case "test":
		v, err := value()
		if err != nil {
			return nil, err
		}
		got, err := get(root, *o.Path)
		if err != nil {
			return nil, err
		}
		if !reflect.DeepEqual(got, v) {
			return nil, errors.New("test failed")
		}
		return root, nil
	case "move", "copy":
		if o.From == nil { // RFC 6902 §4.4, §4.5: from is required
			return nil, errors.New("from required")
		}
		from := *o.From
		v, err := get(root, from)
		if err != nil {
			return nil, err
		}
		if o.Op == "move" {
			if strings.HasPrefix(*o.Path, from+"/") {
				return nil, errors.New("cannot move a value into itself")
			}
			if root, _, err = remove(root, from); err != nil {
				return nil, err
			}
		} else {
			b, _ := json.Marshal(v)
			_ = json.Unmarshal(b, &v) // a deep copy
		}
		return put(root, *o.Path, v, true)
	}
	return nil, fmt.Errorf("unknown op %q", o.Op)
}

// tokens splits a JSON pointer (RFC 6901).
func tokens(ptr string) ([]string, error) {
	if ptr == "" {
		return nil, nil
	}
	if ptr[0] != '/' {
		return nil, errors.New("a JSON pointer starts with /")
	}
	parts := strings.Split(ptr[1:], "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

func index(tok string, n int, appendOK bool) (int, error) {
	if tok == "-" && appendOK {
		return n, nil
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 || (tok != "0" && strings.HasPrefix(tok, "0")) {
		return 0, fmt.Errorf("bad array index %q", tok)
	}
	limit := n - 1
	if appendOK {
		limit = n
	}
	if i > limit {
		return 0, fmt.Errorf("array index %d out of range", i)
	}
	return i, nil
}

func get(root any, ptr string) (any, error) {
	toks, err := tokens(ptr)
	if err != nil {
		return nil, err
	}
	cur := root
	for _, t := range toks {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("no member %q", t)
			}
			cur = v
		case []any:
			i, err := index(t, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("cannot step into a scalar at %q", t)
		}
	}
	return cur, nil
}

// put sets (or, for arrays with insert, inserts) v at ptr.
func put(root any, ptr string, v any, insert bool) (any, error) {
	toks, err := tokens(ptr)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return v, nil
	}
	parent, err := get(root, "/"+strings.Join(escape(toks[:len(toks)-1]), "/"))
	if len(toks) == 1 {
		parent, err = root, nil
	}
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
		return root, nil
	case []any:
		i, err := index(last, len(p), insert)
		if err != nil {
			return nil, err
		}
		if !insert {
			p[i] = v
			return root, nil
		}
		p = append(p[:i], append([]any{v}, p[i:]...)...)
		return put(root, "/"+strings.Join(escape(toks[:len(toks)-1]), "/"), p, false)
	}
	return nil, errors.New("the parent is not an object or array")
}

func remove(root any, ptr string) (any, any, error) {
	toks, err := tokens(ptr)
	if err != nil {
		return nil, nil, err
	}
	if len(toks) == 0 {
		return nil, nil, errors.New("cannot remove the whole document")
	}
	parentPtr := "/" + strings.Join(escape(toks[:len(toks)-1]), "/")
	if len(toks) == 1 {
		parentPtr = ""
	}
	parent, err := get(root, parentPtr)
	if err != nil {
		return nil, nil, err
	}
	last := toks[len(toks)-1]
	switch p := parent.(type) {
	case map[string]any:
		v, ok := p[last]
		if !ok {
			return nil, nil, fmt.Errorf("no member %q", last)
		}
		delete(p, last)
		return root, v, nil
	case []any:
		i, err := index(last, len(p), false)
		if err != nil {
			return nil, nil, err
		}
		v := p[i]
		p = append(p[:i:i], p[i+1:]...)
		root, err = put(root, parentPtr, p, false)
		return root, v, err
	}
	return nil, nil, errors.New("the parent is not an object or array")
}

func escape(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
	}
	return out
}
