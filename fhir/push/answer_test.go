package push

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// TestPushAnswer sends the referrer's answer to a request for more
// information as a Communication about the receiver's Task (validated
// against the R4 schema by the receiver), once however often it is resent;
// a receiver that pulls has nothing pushed.
func TestPushAnswer(t *testing.T) {
	rc := newReceiver(t)
	ch := rc.channel()
	ctx := context.Background()
	first, err := ch.Send(ctx, outbound(rc.entry(), "dlv-1"))
	if err != nil {
		t.Fatal(err)
	}
	out := outbound(rc.entry(), "dlv-answer")
	out.Referral.Status, out.Referral.Question, out.Referral.Answer = gateway.StatusReceived, "Which dose?", "5 mg daily."
	out.Delivery.Purpose, out.Delivery.AnswersRemoteID = gateway.PurposeAnswer, first.RemoteID
	res, err := ch.Send(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Delivered || res.RemoteID != "Communication/comm-1" {
		t.Fatalf("answer: %+v", res)
	}
	again, err := ch.Send(ctx, out)
	if err != nil || again.RemoteID != res.RemoteID {
		t.Fatalf("resent answer: %+v %v", again, err)
	}
	rc.mu.Lock()
	doc := rc.docs["Communication/comm-1"]
	n := len(rc.comms)
	rc.mu.Unlock()
	if n != 1 {
		t.Fatalf("the receiver holds %d Communications, want 1", n)
	}
	about := doc["about"].([]any)[0].(map[string]any)["reference"]
	payload := doc["payload"].([]any)
	if about != "Task/"+first.RemoteID || len(payload) != 2 ||
		payload[0].(map[string]any)["contentString"] != "You asked: Which dose?\nAnswer: 5 mg daily." ||
		payload[1].(map[string]any)["contentAttachment"].(map[string]any)["data"] != base64.StdEncoding.EncodeToString(out.Records[0].Content) {
		t.Fatalf("communication: %v", doc)
	}

	pull := rc.entry()
	pull.FHIR.BaseURL = ""
	out.Receiver = pull
	if res, err := ch.Send(ctx, out); err != nil || !res.Delivered {
		t.Fatalf("pull receiver: %+v %v", res, err)
	}
}
