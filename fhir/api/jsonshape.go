package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// checkJSONShape enforces the rules of FHIR's JSON format that Go's decoder
// lets through, before any resource is parsed from body:
//   - a property appears once in its object (a repeated one would silently
//     take its last value);
//   - a property is never null (R4 JSON: an element without a value is
//     left out); null is allowed only as an array item, where it keeps a
//     primitive array aligned with its "_name" array of ids and extensions;
//   - nothing follows the resource.
//
// A violation is a 400 OperationOutcome naming the element.
func checkJSONShape(body []byte) error {
	err := walkJSONShape(body)
	var ae *apiError
	if errors.As(err, &ae) && len(ae.issue.Expression) > 0 {
		// Expressions are FHIRPath: they start at the resource type.
		var top struct{ ResourceType string }
		if json.Unmarshal(body, &top) == nil && top.ResourceType != "" {
			ae.issue.Expression[0] = top.ResourceType + "." + ae.issue.Expression[0]
		}
	}
	return err
}

// walkJSONShape does checkJSONShape's work in one pass over the tokens;
// its paths start below the resource ("entry[0].resource.status").
func walkJSONShape(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return newAPIError(http.StatusBadRequest, "structure", "the body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// One frame per open object or array: its path, and for an object the
	// properties seen and whether a name comes next.
	type frame struct {
		object  bool
		path    string
		seen    map[string]bool
		name    string
		wantKey bool
		index   int
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			return nil
		}
		if err != nil {
			return malformed(err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) == 0 && dec.More() {
				return newAPIError(http.StatusBadRequest, "structure", "the body holds more than one JSON value")
			}
			continue
		}
		if top != nil && top.object && top.wantKey {
			name, _ := tok.(string)
			at := name
			if top.path != "" {
				at = top.path + "." + name
			}
			if top.seen[name] {
				return newAPIError(http.StatusBadRequest, "structure", fmt.Sprintf("property %q appears more than once", at), at)
			}
			top.seen[name], top.name, top.wantKey = true, at, false
			continue
		}
		// A value: of a property, an array item, or the whole body.
		path := ""
		switch {
		case top == nil && len(stack) == 0 && tok == nil:
			return newAPIError(http.StatusBadRequest, "structure", "the body is null")
		case top != nil && top.object:
			path, top.wantKey = top.name, true
			if tok == nil {
				return newAPIError(http.StatusBadRequest, "structure", fmt.Sprintf("property %q is null; FHIR JSON leaves out an element that has no value", path), path)
			}
		case top != nil:
			path = top.path + "[" + strconv.Itoa(top.index) + "]"
			top.index++ // null items keep primitive arrays aligned with their "_name" arrays
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, path: path, seen: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{path: path})
		default:
			if len(stack) == 0 && dec.More() {
				return newAPIError(http.StatusBadRequest, "structure", "the body holds more than one JSON value")
			}
		}
	}
}

func malformed(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return newAPIError(http.StatusBadRequest, "structure", fmt.Sprintf("the body is not well-formed JSON (at byte %d)", se.Offset))
	}
	return newAPIError(http.StatusBadRequest, "structure", "the body is not well-formed JSON")
}
