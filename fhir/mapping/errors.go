package mapping

import (
	"errors"
	"fmt"
)

// InvalidError reports FHIR input the mapping cannot accept, naming the
// offending element as a FHIRPath expression such as "Task.status".
type InvalidError struct {
	Expression string
	Reason     string
}

// Error names the element and the reason.
func (e *InvalidError) Error() string {
	return fmt.Sprintf("fhir: %s: %s", e.Expression, e.Reason)
}

// MalformedError reports input that is not well-formed JSON (or not a JSON
// object where one is required); the API answers it with 400.
type MalformedError struct {
	Err error
}

// Error says the input is not JSON, with the decoder's reason.
func (e *MalformedError) Error() string { return "fhir: malformed JSON: " + e.Err.Error() }

// Unwrap returns the decoder's error.
func (e *MalformedError) Unwrap() error { return e.Err }

// invalid is shorthand for a *InvalidError.
func invalid(expr, format string, args ...any) error {
	return &InvalidError{Expression: expr, Reason: fmt.Sprintf(format, args...)}
}

// Issues flattens err into the InvalidErrors it carries, for reporting
// every invalid element at once.
func Issues(err error) []*InvalidError {
	var out []*InvalidError
	var walk func(error)
	walk = func(e error) {
		var ie *InvalidError
		if errors.As(e, &ie) && ie == e {
			out = append(out, ie)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.As(e, &ie) {
			out = append(out, ie)
		}
	}
	walk(err)
	return out
}
