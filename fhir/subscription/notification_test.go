package subscription

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// TestRenderNotification: R4 core rest-hook. Without a payload a POST
// with no body to the endpoint as given; with one the Task PUT to
// [endpoint]/Task/[id], the endpoint read as a FHIR base (a trailing slash
// or a query string of the endpoint stay where they belong).
func TestRenderNotification(t *testing.T) {
	r := &gateway.Referral{ID: "ref-1", Version: 3, Status: gateway.StatusAccepted, Created: time.Unix(0, 0), Updated: time.Unix(60, 0),
		Requester: gateway.Requester{OrgID: "org-north"}, ReceiverID: "org-ortho", ReceiverOrgID: "org-ortho"}
	tests := []struct {
		endpoint, payload, method, url string
	}{
		{"https://ehr.example.org/hook", "", http.MethodPost, "https://ehr.example.org/hook"},
		{"https://ehr.example.org/hook?k=v", "", http.MethodPost, "https://ehr.example.org/hook?k=v"},
		{"https://ehr.example.org/fhir", PayloadFHIRJSON, http.MethodPut, "https://ehr.example.org/fhir/Task/ref-1"},
		{"https://ehr.example.org/fhir/", PayloadFHIRJSON, http.MethodPut, "https://ehr.example.org/fhir/Task/ref-1"},
		{"https://ehr.example.org/fhir?k=v", PayloadFHIRJSON, http.MethodPut, "https://ehr.example.org/fhir/Task/ref-1?k=v"},
		{"https://ehr.example.org", PayloadFHIRJSON, http.MethodPut, "https://ehr.example.org/Task/ref-1"},
	}
	for _, tt := range tests {
		s := &Subscription{ID: "sub-1", Endpoint: tt.endpoint, Payload: tt.payload}
		n, err := renderNotification(s, r)
		if err != nil {
			t.Fatal(err)
		}
		if n.method != tt.method || n.url != tt.url {
			t.Errorf("%s payload %q: %s %s, want %s %s", tt.endpoint, tt.payload, n.method, n.url, tt.method, tt.url)
		}
		if tt.payload == "" {
			if n.body != nil {
				t.Errorf("%s: a notification without payload has a body: %s", tt.endpoint, n.body)
			}
			continue
		}
		var task struct {
			ResourceType, ID string
			Meta             struct{ VersionID string }
		}
		if err := json.Unmarshal(n.body, &task); err != nil || task.ResourceType != "Task" || task.ID != "ref-1" || task.Meta.VersionID != "3" {
			t.Errorf("%s: body %s (%v), want Task ref-1 version 3", tt.endpoint, n.body, err)
		}
	}
	if hs := ping(&Subscription{Endpoint: "https://ehr.example.org/fhir", Payload: PayloadFHIRJSON}); hs.method != http.MethodPost ||
		hs.url != "https://ehr.example.org/fhir" || hs.body != nil {
		t.Errorf("handshake %+v, want a POST with no body to the endpoint", hs)
	}
}
