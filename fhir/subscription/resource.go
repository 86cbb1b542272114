package subscription

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Status is Subscription.status.
type Status string

// The R4 subscription statuses.
const (
	// StatusRequested waits for the handshake ping to succeed.
	StatusRequested Status = "requested"
	// StatusActive receives notifications.
	StatusActive Status = "active"
	// StatusError stopped after repeated failures; Subscription.error says why.
	StatusError Status = "error"
	// StatusOff was turned off by the client.
	StatusOff Status = "off"
)

// PayloadFHIRJSON is the only channel.payload accepted besides none
// (id-only notifications).
const PayloadFHIRJSON = "application/fhir+json"

// Resource is the R4 Subscription as clients read and write it. It is our
// own small struct: the generated model marshals zero values for elements
// this server does not use.
type Resource struct {
	ResourceType string   `json:"resourceType"`
	ID           string   `json:"id,omitempty"`
	Meta         *Meta    `json:"meta,omitempty"`
	Status       Status   `json:"status,omitempty"`
	End          string   `json:"end,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	Criteria     string   `json:"criteria,omitempty"`
	Error        string   `json:"error,omitempty"`
	Channel      *Channel `json:"channel,omitempty"`
}

// Meta is the resource's version and last change, and the profiles a
// client claims it conforms to (read only to refuse one, BackportProfile).
type Meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
}

// BackportProfile is the Subscriptions R5 Backport IG's R4 Subscription
// profile. Such a subscription follows a SubscriptionTopic and is notified
// with subscription-status Bundles, neither of which this server has: it
// delivers R4 core rest-hook notifications only, so a Subscription that
// claims the profile is refused rather than served otherwise than it asks.
const BackportProfile = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"

// Channel is Subscription.channel.
type Channel struct {
	Type     string   `json:"type,omitempty"`
	Endpoint string   `json:"endpoint,omitempty"`
	Payload  string   `json:"payload,omitempty"`
	Header   []string `json:"header,omitempty"`
}

// Error is a refusal of a Subscription a client submitted: the FHIR issue
// code, the element concerned and why. fhir/api maps it to an
// OperationOutcome (structure → 400, forbidden → 403, otherwise 422).
type Error struct {
	Code       string // FHIR issue type: structure, required, value, invalid, forbidden, business-rule
	Expression string // e.g. "Subscription.criteria"
	Reason     string
}

// Error is "subscription: <expression>: <reason>".
func (e *Error) Error() string {
	if e.Expression == "" {
		return "subscription: " + e.Reason
	}
	return "subscription: " + e.Expression + ": " + e.Reason
}

func refuse(code, expr, format string, args ...any) *Error {
	return &Error{Code: code, Expression: expr, Reason: fmt.Sprintf(format, args...)}
}

// maxBody bounds a Subscription document; a legitimate one is well under it.
const maxBody = 64 << 10

// Parse reads a Subscription a client sent. It checks only the JSON shape;
// Validate checks the content against the caller.
func Parse(b []byte) (*Resource, error) {
	if len(b) > maxBody {
		return nil, refuse("too-costly", "", "the Subscription is larger than %d bytes", maxBody)
	}
	var res Resource
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&res); err != nil {
		return nil, refuse("structure", "", "the body is not a well-formed Subscription: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, refuse("structure", "", "trailing data after the Subscription")
	}
	if res.ResourceType != "Subscription" {
		return nil, refuse("structure", "Subscription.resourceType", "resourceType must be Subscription")
	}
	return &res, nil
}

// jsonProblem names what was wrong without echoing the client's values.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return "wrong type for " + te.Field
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	return "invalid JSON"
}

// Spec is a validated subscription as a client may set it.
type Spec struct {
	Status   Status
	Reason   string
	Criteria Criteria
	End      time.Time
	Endpoint string
	Payload  string
	Header   []string
}

// Criteria is a parsed Subscription.criteria: Task?owner=Organization/<org>
// (referrals the organisation receives) or Task?requester=Organization/<org>
// (referrals it sent).
type Criteria struct {
	Param string // "owner" or "requester"
	OrgID string
}

// String is the canonical criteria string.
func (c Criteria) String() string { return "Task?" + c.Param + "=Organization/" + c.OrgID }

// fhirID is the FHIR id datatype.
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// ParseCriteria reads a criteria string; the organisation is not checked
// against the caller here (Validate does).
func ParseCriteria(s string) (Criteria, error) {
	const expr = "Subscription.criteria"
	typ, query, ok := strings.Cut(s, "?")
	if !ok || typ != "Task" {
		return Criteria{}, refuse("not-supported", expr, "only Task?owner=Organization/<your organisation> or Task?requester=Organization/<your organisation> is supported")
	}
	v, err := url.ParseQuery(query)
	if err != nil || len(v) != 1 {
		return Criteria{}, refuse("not-supported", expr, "criteria must have exactly one parameter, owner or requester")
	}
	var c Criteria
	for name, vals := range v {
		if name != "owner" && name != "requester" {
			return Criteria{}, refuse("not-supported", expr, "unsupported criteria parameter %q; use owner or requester", truncate(name, 40))
		}
		if len(vals) != 1 {
			return Criteria{}, refuse("not-supported", expr, "criteria parameter %s must appear once", name)
		}
		c.Param = name
		c.OrgID = strings.TrimPrefix(vals[0], "Organization/")
	}
	if !fhirID.MatchString(c.OrgID) {
		return Criteria{}, refuse("value", expr, "criteria must reference an Organization by id")
	}
	return c, nil
}

// maxHeaders and maxHeaderLen bound channel.header.
const (
	maxHeaders   = 10
	maxHeaderLen = 4096
	maxReasonLen = 1024
	maxURLLen    = 2048
)

var headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")

// reservedHeaders are set by the notifier itself or by HTTP.
var reservedHeaders = map[string]bool{
	"host": true, "content-type": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"te": true, "trailer": true, "upgrade": true, "keep-alive": true, "proxy-connection": true, "expect": true,
}

// Validate checks a submitted Subscription for the client of orgID: the
// criteria must name that organisation (a forbidden Error otherwise), the
// channel must be a rest-hook to an https endpoint (http only when
// allowHTTP), the payload JSON or none, and the headers well formed.
func Validate(res *Resource, orgID string, allowHTTP bool) (*Spec, error) {
	sp := &Spec{Status: res.Status, Reason: strings.TrimSpace(res.Reason)}
	if res.Meta != nil {
		for i, p := range res.Meta.Profile {
			if canonical, _, _ := strings.Cut(p, "|"); canonical == BackportProfile {
				return nil, refuse("not-supported", fmt.Sprintf("Subscription.meta.profile[%d]", i),
					"the Subscriptions R5 Backport profile is not supported: this server sends R4 core rest-hook notifications (a POST without body, or with a payload the Task PUT to [endpoint]/Task/[id])")
			}
		}
	}
	switch res.Status {
	case StatusRequested, StatusActive, StatusOff:
	case "":
		return nil, refuse("required", "Subscription.status", "status is required")
	case StatusError:
		return nil, refuse("business-rule", "Subscription.status", "only the server sets status error; set requested to resume")
	default:
		return nil, refuse("value", "Subscription.status", "status must be requested, active or off")
	}
	if sp.Reason == "" {
		return nil, refuse("required", "Subscription.reason", "reason is required")
	}
	if len(sp.Reason) > maxReasonLen {
		return nil, refuse("value", "Subscription.reason", "reason is longer than %d bytes", maxReasonLen)
	}
	if res.Criteria == "" {
		return nil, refuse("required", "Subscription.criteria", "criteria is required")
	}
	c, err := ParseCriteria(res.Criteria)
	if err != nil {
		return nil, err
	}
	if orgID == "" || c.OrgID != orgID {
		return nil, refuse("forbidden", "Subscription.criteria", "criteria may only name this client's own organisation")
	}
	sp.Criteria = c
	if res.End != "" {
		end, err := time.Parse(time.RFC3339Nano, res.End)
		if err != nil {
			return nil, refuse("value", "Subscription.end", "end must be a FHIR instant")
		}
		sp.End = end.UTC()
	}
	if res.Channel == nil {
		return nil, refuse("required", "Subscription.channel", "channel is required")
	}
	if res.Channel.Type != "rest-hook" {
		return nil, refuse("not-supported", "Subscription.channel.type", "only the rest-hook channel is supported")
	}
	if sp.Endpoint, err = checkEndpoint(res.Channel.Endpoint, allowHTTP); err != nil {
		return nil, err
	}
	if p := res.Channel.Payload; p != "" {
		mt, _, err := mime.ParseMediaType(p)
		if err != nil || mt != PayloadFHIRJSON {
			return nil, refuse("not-supported", "Subscription.channel.payload", "payload must be application/fhir+json or absent (id-only notifications)")
		}
		sp.Payload = PayloadFHIRJSON
	}
	if len(res.Channel.Header) > maxHeaders {
		return nil, refuse("value", "Subscription.channel.header", "at most %d headers", maxHeaders)
	}
	for i, h := range res.Channel.Header {
		if err := checkHeader(h); err != nil {
			err.Expression = fmt.Sprintf("Subscription.channel.header[%d]", i)
			return nil, err
		}
		sp.Header = append(sp.Header, h)
	}
	return sp, nil
}

// checkEndpoint accepts an absolute https URL (http when allowed) without
// credentials or fragment.
func checkEndpoint(s string, allowHTTP bool) (string, error) {
	const expr = "Subscription.channel.endpoint"
	if s == "" {
		return "", refuse("required", expr, "endpoint is required")
	}
	u, err := url.Parse(s)
	if err != nil || len(s) > maxURLLen || u.Host == "" || u.Opaque != "" {
		return "", refuse("value", expr, "endpoint must be an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	default:
		return "", refuse("value", expr, "endpoint must use https")
	}
	if u.User != nil {
		return "", refuse("value", expr, "endpoint must not carry credentials; use channel.header")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return "", refuse("value", expr, "endpoint must not have a fragment")
	}
	return u.String(), nil
}

// checkHeader accepts "Name: value" with a token name that the notifier
// does not set itself and a value without control characters.
func checkHeader(h string) *Error {
	const expr = "Subscription.channel.header"
	if len(h) > maxHeaderLen {
		return refuse("value", expr, "header longer than %d bytes", maxHeaderLen)
	}
	name, value, ok := strings.Cut(h, ":")
	if !ok || !headerName.MatchString(name) {
		return refuse("value", expr, "header must be \"Name: value\"")
	}
	if reservedHeaders[strings.ToLower(name)] {
		return refuse("value", expr, "header %s is set by the server", name)
	}
	for _, r := range value {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return refuse("value", expr, "header value has a control character")
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
