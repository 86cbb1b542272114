package channel

import (
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// TestAnswerMessage checks what the receiver reads when the referrer
// answers its request for more information by Direct: its own subject,
// keeping the referral token replies match on, and a body with the
// question, the answer and the added records only.
func TestAnswerMessage(t *testing.T) {
	r := &gateway.Referral{ID: "ref-0001", Question: "Please send the latest echo report.", Answer: "Echo attached."}
	out := &gateway.Outbound{Referral: r, Delivery: &gateway.Delivery{ID: "d-2", Purpose: gateway.PurposeAnswer},
		Records: []gateway.RecordContent{{Record: gateway.Record{ID: "rec-2", Title: "Echo report", ContentType: "text/plain"}, Content: []byte("LVEF 55%")}}}
	subject := subjectFor(out)
	if id, ok := ReferralToken(subject); !ok || id != "ref-0001" || !strings.Contains(subject, "More information") {
		t.Fatalf("subject %q", subject)
	}
	body := Summary(out)
	for _, want := range []string{"In answer to your request for more information on referral ref-0001",
		"You asked:\nPlease send the latest echo report.", "Answer:\nEcho attached.", "- Echo report (text/plain, 8 bytes)"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	out.Delivery.Purpose = ""
	if s := subjectFor(out); s != Subject("ref-0001") {
		t.Fatalf("a referral's subject: %q", s)
	}
}
