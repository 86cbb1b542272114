package subscription

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// notification is the history Bundle POSTed to an endpoint. An empty one
// (no entries) is the handshake ping.
type notification struct {
	ResourceType string  `json:"resourceType"`
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Timestamp    string  `json:"timestamp"`
	Entry        []entry `json:"entry,omitempty"`
}

type entry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Request  entryRequest    `json:"request"`
	Response entryResponse   `json:"response"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status       string `json:"status"`
	Location     string `json:"location,omitempty"`
	Etag         string `json:"etag"`
	LastModified string `json:"lastModified"`
}

// renderNotification renders the Bundle for one Task version: the Task
// itself with payload application/fhir+json; without a payload, only its
// URL, versioned location and ETag.
func renderNotification(base string, s *Subscription, r *gateway.Referral, id, at string) ([]byte, error) {
	// fullUrl names the Task, never one version of it (R4 bdl-8); the
	// version is in response.location and etag.
	e := entry{
		FullURL: base + "/Task/" + r.ID,
		Request: entryRequest{Method: "PUT", URL: "Task/" + r.ID},
		Response: entryResponse{Status: "200 OK", Location: "Task/" + r.ID + "/_history/" + strconv.Itoa(r.Version),
			Etag: `W/"` + strconv.Itoa(r.Version) + `"`, LastModified: mapping.Instant(r.Updated)},
	}
	if r.Version == 1 {
		e.Request.Method, e.Response.Status = "POST", "201 Created"
	}
	if s.Payload == PayloadFHIRJSON {
		raw, err := json.Marshal(mapping.NewTask(r))
		if err != nil {
			return nil, fmt.Errorf("subscription: render Task %s: %w", r.ID, err)
		}
		e.Resource = raw
	}
	return json.Marshal(notification{ResourceType: "Bundle", ID: id, Type: "history", Timestamp: at, Entry: []entry{e}})
}

// renderHandshake renders the ping that confirms a requested subscription.
func renderHandshake(id, at string) ([]byte, error) {
	return json.Marshal(notification{ResourceType: "Bundle", ID: id, Type: "history", Timestamp: at})
}
