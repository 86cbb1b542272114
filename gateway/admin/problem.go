package admin

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/referralgw/gateway/gateway"
)

// Problem is an RFC 9457 problem detail, the body of every API error.
type Problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Errors []FieldProblem `json:"errors,omitempty"`
}

// FieldProblem names one invalid input field and why it was refused.
type FieldProblem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Problem type URIs; they name the class of refusal, not a web page.
const (
	problemValidation   = "urn:referralgw:admin:problem:validation"
	problemNotFound     = "urn:referralgw:admin:problem:not-found"
	problemConflict     = "urn:referralgw:admin:problem:conflict"
	problemPrecondition = "urn:referralgw:admin:problem:precondition"
	problemTransition   = "urn:referralgw:admin:problem:illegal-transition"
	problemAuth         = "urn:referralgw:admin:problem:unauthenticated"
	problemForbidden    = "urn:referralgw:admin:problem:forbidden"
	problemThrottled    = "urn:referralgw:admin:problem:throttled"
	problemInternal     = "urn:referralgw:admin:problem:internal"
)

// writeProblem sends p as application/problem+json.
func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// fieldProblems lists the fields an error from the core names, if any.
func fieldProblems(err error) []FieldProblem {
	var out []FieldProblem
	var many gateway.ValidationErrors
	if errors.As(err, &many) {
		for _, v := range many {
			out = append(out, FieldProblem{Field: v.Field, Reason: v.Reason})
		}
		return out
	}
	var one *gateway.ValidationError
	if errors.As(err, &one) {
		out = append(out, FieldProblem{Field: one.Field, Reason: one.Reason})
	}
	return out
}

// problemFor maps an error from the core (or from input decoding) to the
// problem an API client sees. Unknown errors become a 500 without detail,
// so nothing internal leaks.
func problemFor(err error) Problem {
	if fp := fieldProblems(err); len(fp) > 0 {
		return Problem{Type: problemValidation, Title: "Invalid input", Status: http.StatusUnprocessableEntity,
			Detail: "one or more fields are invalid", Errors: fp}
	}
	var te *gateway.TransitionError
	if errors.As(err, &te) {
		return Problem{Type: problemTransition, Title: "Illegal transition", Status: http.StatusConflict,
			Detail: te.Error(), Errors: []FieldProblem{{Field: "state", Reason: te.Rule}}}
	}
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return Problem{Type: problemNotFound, Title: "Not found", Status: http.StatusNotFound}
	case errors.Is(err, gateway.ErrConflict):
		return Problem{Type: problemPrecondition, Title: "Version conflict", Status: http.StatusPreconditionFailed,
			Detail: "the record changed since it was read; read it again and retry",
			Errors: []FieldProblem{{Field: "If-Match", Reason: "does not match the current version"}}}
	case errors.Is(err, gateway.ErrForbidden):
		return Problem{Type: problemForbidden, Title: "Forbidden", Status: http.StatusForbidden}
	}
	return Problem{Type: problemInternal, Title: "Internal error", Status: http.StatusInternalServerError}
}

// invalid is a 422 naming one field.
func invalid(field, reason string) Problem {
	return Problem{Type: problemValidation, Title: "Invalid input", Status: http.StatusUnprocessableEntity,
		Detail: field + ": " + reason, Errors: []FieldProblem{{Field: field, Reason: reason}}}
}
