package subscription

import (
	"errors"
	"strings"
	"testing"
)

func valid() *Resource {
	return &Resource{ResourceType: "Subscription", Status: StatusRequested, Reason: "referrals we receive",
		Criteria: "Task?owner=Organization/org-a",
		Channel:  &Channel{Type: "rest-hook", Endpoint: "https://ehr.example.org/hook", Payload: PayloadFHIRJSON, Header: []string{"Authorization: Bearer x"}}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(r *Resource)
		allowHTTP bool
		code      string // empty: valid
		expr      string
	}{
		{"valid", func(*Resource) {}, false, "", ""},
		{"requester, bare id, active, no payload", func(r *Resource) {
			r.Criteria, r.Status, r.Channel.Payload = "Task?requester=org-a", StatusActive, ""
		}, false, "", ""},
		{"payload with fhirVersion", func(r *Resource) { r.Channel.Payload = "application/fhir+json; fhirVersion=4.0" }, false, "", ""},
		{"http allowed in dev", func(r *Resource) { r.Channel.Endpoint = "http://localhost:8080/hook" }, true, "", ""},
		{"end", func(r *Resource) { r.End = "2027-01-01T00:00:00Z" }, false, "", ""},
		{"bad end", func(r *Resource) { r.End = "next year" }, false, "value", "Subscription.end"},
		{"other organisation", func(r *Resource) { r.Criteria = "Task?owner=Organization/org-b" }, false, "forbidden", "Subscription.criteria"},
		{"other organisation as requester", func(r *Resource) { r.Criteria = "Task?requester=org-b" }, false, "forbidden", "Subscription.criteria"},
		{"other type", func(r *Resource) { r.Criteria = "ServiceRequest?requester=org-a" }, false, "not-supported", "Subscription.criteria"},
		{"no query", func(r *Resource) { r.Criteria = "Task" }, false, "not-supported", "Subscription.criteria"},
		{"repeated parameter", func(r *Resource) { r.Criteria = "Task?owner=org-a&owner=org-a" }, false, "not-supported", "Subscription.criteria"},
		{"other parameter", func(r *Resource) { r.Criteria = "Task?status=requested" }, false, "not-supported", "Subscription.criteria"},
		{"not an id", func(r *Resource) { r.Criteria = "Task?owner=Organization/a b" }, false, "value", "Subscription.criteria"},
		{"no status", func(r *Resource) { r.Status = "" }, false, "required", "Subscription.status"},
		{"status error", func(r *Resource) { r.Status = StatusError }, false, "business-rule", "Subscription.status"},
		{"unknown status", func(r *Resource) { r.Status = "paused" }, false, "value", "Subscription.status"},
		{"no reason", func(r *Resource) { r.Reason = "  " }, false, "required", "Subscription.reason"},
		{"long reason", func(r *Resource) { r.Reason = strings.Repeat("r", maxReasonLen+1) }, false, "value", "Subscription.reason"},
		{"no channel", func(r *Resource) { r.Channel = nil }, false, "required", "Subscription.channel"},
		{"websocket", func(r *Resource) { r.Channel.Type = "websocket" }, false, "not-supported", "Subscription.channel.type"},
		{"http", func(r *Resource) { r.Channel.Endpoint = "http://ehr.example.org/hook" }, false, "value", "Subscription.channel.endpoint"},
		{"relative", func(r *Resource) { r.Channel.Endpoint = "/hook" }, false, "value", "Subscription.channel.endpoint"},
		{"no endpoint", func(r *Resource) { r.Channel.Endpoint = "" }, false, "required", "Subscription.channel.endpoint"},
		{"mailto", func(r *Resource) { r.Channel.Endpoint = "mailto:a@example.org" }, false, "value", "Subscription.channel.endpoint"},
		{"credentials", func(r *Resource) { r.Channel.Endpoint = "https://u:p@ehr.example.org/" }, false, "value", "Subscription.channel.endpoint"},
		{"fragment", func(r *Resource) { r.Channel.Endpoint = "https://ehr.example.org/#x" }, false, "value", "Subscription.channel.endpoint"},
		{"xml", func(r *Resource) { r.Channel.Payload = "application/fhir+xml" }, false, "not-supported", "Subscription.channel.payload"},
		{"header without colon", func(r *Resource) { r.Channel.Header = []string{"Authorization"} }, false, "value", "Subscription.channel.header[0]"},
		{"header injection", func(r *Resource) { r.Channel.Header = []string{"A: b", "X: y\nZ: w"} }, false, "value", "Subscription.channel.header[1]"},
		{"reserved header", func(r *Resource) { r.Channel.Header = []string{"Content-Length: 0"} }, false, "value", "Subscription.channel.header[0]"},
		{"too many headers", func(r *Resource) { r.Channel.Header = make([]string, maxHeaders+1) }, false, "value", "Subscription.channel.header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.edit(r)
			sp, err := Validate(r, "org-a", tt.allowHTTP)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if sp.Criteria.OrgID != "org-a" || sp.Endpoint == "" {
					t.Errorf("spec %+v", sp)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("err %v, want *Error", err)
			}
			if se.Code != tt.code || se.Expression != tt.expr {
				t.Errorf("refused with %s at %s (%s), want %s at %s", se.Code, se.Expression, se.Reason, tt.code, tt.expr)
			}
		})
	}
}

func TestValidateNeedsAnOrganisation(t *testing.T) {
	if _, err := Validate(valid(), "", false); err == nil {
		t.Error("a caller without organisation may subscribe")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"resourceType":"Subscription","status":"active"}`, true},
		{`{"resourceType":"Subscription","channel":{"header":"x"}}`, false},
		{`{"resourceType":"Task"}`, false},
		{`{"resourceType":"Subscription"} {}`, false},
		{`[]`, false},
		{`{"resourceType":"Subscription","reason":` + strings.Repeat(" ", maxBody) + `"r"}`, false},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%.60s): %v", tt.body, err)
		}
		var se *Error
		if err != nil && !errors.As(err, &se) {
			t.Errorf("Parse error %v is not an *Error", err)
		}
	}
}

func TestCriteriaString(t *testing.T) {
	for _, in := range []string{"Task?owner=org-a", "Task?owner=Organization/org-a"} {
		c, err := ParseCriteria(in)
		if err != nil || c.String() != "Task?owner=Organization/org-a" {
			t.Errorf("ParseCriteria(%q) = %v, %v", in, c, err)
		}
	}
}
