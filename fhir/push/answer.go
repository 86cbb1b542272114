package push

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// sendAnswer carries the referrer's answer to a request for more
// information. A receiver that pulls reads it on the Task it already
// follows (the answer note and the added records' inputs), so there is
// nothing to push; a receiver we push to gets a Communication about its
// Task, created conditionally on the answer's delivery id.
func (c *Channel) sendAnswer(ctx context.Context, out *gateway.Outbound) (gateway.SendResult, error) {
	to := out.Receiver
	if to.FHIR.BaseURL == "" {
		return gateway.SendResult{Delivered: true, Detail: "pull mode: the answer is on the Task the receiver reads"}, nil
	}
	body, err := mapping.NewAnswerTransaction(out.Referral, out.Delivery.ID, out.Delivery.AnswersRemoteID, out.Records, c.cfg.Clock())
	if err != nil {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("fhir: answer %s: %w", out.Delivery.ID, err))
	}
	res, err := c.post(ctx, to, body)
	if err != nil {
		return gateway.SendResult{}, fmt.Errorf("fhir: answer %s: %w", out.Delivery.ID, err)
	}
	var tr struct {
		Entry []struct {
			Response struct {
				Location string `json:"location"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res, &tr); err != nil || len(tr.Entry) != 1 {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("fhir: answer %s: the receiver's transaction response is not one entry", out.Delivery.ID))
	}
	loc := tr.Entry[0].Response.Location
	id, ok := strings.CutPrefix(loc, "Communication/")
	if !ok {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("fhir: answer %s: location %q is not a Communication", out.Delivery.ID, loc))
	}
	id, _, _ = strings.Cut(id, "/")
	return gateway.SendResult{RemoteID: "Communication/" + id, Delivered: true, Detail: "answer accepted as Communication " + id}, nil
}
