package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/fhir/subscription"
	"github.com/referralgw/gateway/gateway"
)

// OperationOutcome is the FHIR R4 error resource the API answers with.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// apiError is a refusal the handler raises itself (bad parameter, wrong
// content type, scope missing) with its status and issue.
type apiError struct {
	status int
	issue  Issue
	more   []Issue           // further issues of the same refusal
	header map[string]string // response headers, e.g. a Bearer challenge
}

// Error is the diagnostics text.
func (e *apiError) Error() string { return e.issue.Diagnostics }

func newAPIError(status int, code, diagnostics string, expr ...string) *apiError {
	return &apiError{status: status, issue: Issue{Severity: "error", Code: code, Diagnostics: diagnostics, Expression: expr}}
}

// op tells the error mapping which interaction failed, because the same
// gateway error means different things: a version conflict is 412 on an
// update but 409 on a create.
type op int

const (
	opRead op = iota
	opCreate
	opUpdate
)

// fieldExpressions maps the core's input field names to the FHIR elements
// they come from.
var fieldExpressions = map[string]string{
	"requester.orgId":   "Task.requester",
	"requester.npi":     "ServiceRequest.requester.resolve().identifier",
	"receiverId":        "Task.owner",
	"patient.id":        "ServiceRequest.subject.resolve().identifier",
	"patient.birthDate": "ServiceRequest.subject.resolve().birthDate",
	"reason.code":       "ServiceRequest.reasonCode",
	"priority":          "ServiceRequest.priority",
	"consent.kind":      "ServiceRequest.supportingInfo.resolve().policyRule",
	"reason":            "Task.statusReason",
	"question":          "Task.note",
	"answer":            "Task.note",
	"outcome":           "Task.output",
}

// reasonFor words a core validation error for a FHIR client.
func reasonFor(v gateway.ValidationError) string {
	if v.Field == "outcome" {
		return mapping.ConsultNoteHint
	}
	return v.Field + ": " + v.Reason
}

var recordField = regexp.MustCompile(`^records\[(\d+)\]\.(\w+)$`)

func expressionFor(field string) string {
	if e, ok := fieldExpressions[field]; ok {
		return e
	}
	if m := recordField.FindStringSubmatch(field); m != nil {
		return fmt.Sprintf("ServiceRequest.supportingInfo.resolve().content[0].attachment.%s", m[2])
	}
	return field
}

// outcomeFor maps an error to its HTTP status and OperationOutcome. It is
// the one place where gateway and mapping errors meet HTTP.
func outcomeFor(err error, o op) (int, OperationOutcome) {
	oo := OperationOutcome{ResourceType: "OperationOutcome"}
	add := func(code, diag string, expr ...string) {
		oo.Issue = append(oo.Issue, Issue{Severity: "error", Code: code, Diagnostics: diag, Expression: expr})
	}
	var (
		ae  *apiError
		me  *mapping.MalformedError
		te  *gateway.TransitionError
		ve  *gateway.ValidationError
		ce  *gateway.ConsentError
		be  *gateway.BAAError
		mne *gateway.MinimumNecessaryError
		re  *gateway.RoutingError
		ue  *gateway.UnverifiedRecipientError
		se  *subscription.Error
		ua  *mapping.UnappliedError
	)
	switch {
	case errors.As(err, &ae):
		oo.Issue = append(append(oo.Issue, ae.issue), ae.more...)
		return ae.status, oo
	case errors.As(err, &se):
		status, is := subscriptionOutcome(se)
		oo.Issue = append(oo.Issue, is)
		return status, oo
	case errors.As(err, &ua):
		for _, is := range ua.Issues {
			add("not-supported", is.Reason, is.Expression)
		}
		return http.StatusUnprocessableEntity, oo
	case errors.As(err, &me):
		add("structure", "the body is not well-formed FHIR JSON")
		return http.StatusBadRequest, oo
	case len(mapping.Issues(err)) > 0:
		for _, is := range mapping.Issues(err) {
			code := "invalid"
			if strings.HasPrefix(is.Reason, "required") {
				code = "required"
			}
			add(code, is.Reason, is.Expression)
		}
		return http.StatusBadRequest, oo
	case errors.As(err, &te):
		add("business-rule", fmt.Sprintf("%s → %s is not allowed: %s", te.From, te.To, te.Rule), "Task.status")
		return http.StatusUnprocessableEntity, oo
	case errors.As(err, &ve):
		var all gateway.ValidationErrors
		if errors.As(err, &all) {
			for _, v := range all {
				add("invalid", reasonFor(*v), expressionFor(v.Field))
			}
		} else {
			add("invalid", reasonFor(*ve), expressionFor(ve.Field))
		}
		return http.StatusUnprocessableEntity, oo
	case errors.As(err, &ce), errors.As(err, &be), errors.As(err, &mne), errors.As(err, &re), errors.As(err, &ue):
		add("business-rule", refusalText(err))
		return http.StatusUnprocessableEntity, oo
	case errors.Is(err, gateway.ErrNotFound):
		add("not-found", "no such resource")
		return http.StatusNotFound, oo
	case errors.Is(err, gateway.ErrForbidden):
		add("forbidden", "this client's organisation may not do that to this referral")
		return http.StatusForbidden, oo
	case errors.Is(err, gateway.ErrConflict):
		if o == opCreate {
			add("duplicate", "a referral with this identifier already exists; use If-None-Exist to retry safely", "Task.identifier")
			return http.StatusConflict, oo
		}
		add("conflict", "the Task changed since the version named in If-Match; read it again", "Task.meta.versionId")
		return http.StatusPreconditionFailed, oo
	}
	add("exception", "internal error")
	return http.StatusInternalServerError, oo
}

// refusalText names a gate refusal; the gateway's messages carry ids and
// rule names only, never PHI.
func refusalText(err error) string {
	var (
		ce  *gateway.ConsentError
		be  *gateway.BAAError
		mne *gateway.MinimumNecessaryError
		re  *gateway.RoutingError
		ue  *gateway.UnverifiedRecipientError
	)
	switch {
	case errors.As(err, &ce):
		return ce.Error()
	case errors.As(err, &be):
		return be.Error()
	case errors.As(err, &mne):
		return mne.Error()
	case errors.As(err, &re):
		return re.Error()
	case errors.As(err, &ue):
		return ue.Error()
	}
	return "refused"
}
