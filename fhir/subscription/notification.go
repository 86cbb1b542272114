package subscription

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// notification is one request to a subscriber, in the R4 rest-hook form
// (R4 Subscription, channel type rest-hook): without a payload a POST
// with no body to channel.endpoint; with payload application/fhir+json an
// update, the Task itself PUT to [endpoint]/Task/[id], the endpoint read
// as the subscriber's FHIR base.
type notification struct {
	method string
	url    string
	body   []byte // nil: no body
}

// ping is the request that carries nothing: a POST with no body to the
// endpoint. It is the notification of a subscription without a payload,
// and the handshake that confirms a requested subscription (whatever its
// payload: it says only that the endpoint answers).
func ping(s *Subscription) notification {
	return notification{method: http.MethodPost, url: s.Endpoint}
}

// renderNotification is the notification of one Task version for s.
func renderNotification(s *Subscription, r *gateway.Referral) (notification, error) {
	if s.Payload != PayloadFHIRJSON {
		return ping(s), nil
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return notification{}, fmt.Errorf("subscription %s: endpoint: %w", s.ID, err)
	}
	body, err := json.Marshal(mapping.NewTask(r))
	if err != nil {
		return notification{}, fmt.Errorf("subscription: render Task %s: %w", r.ID, err)
	}
	return notification{method: http.MethodPut, url: u.JoinPath("Task", r.ID).String(), body: body}, nil
}
