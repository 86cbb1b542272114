package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// testRequestForInformation runs a request for more information end to
// end: the receiver puts the referral on hold with a question, the
// referrer answers with an extra record, and the answer goes back on the
// channel the referral was delivered on (here Direct, after FHIR failed),
// carrying only the new record; the receipt and the report show both.
func testRequestForInformation(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{Permanent: true}, Behavior{})
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received via Direct", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	e.fhir.SetBehavior(Behavior{})
	recv := gateway.Actor{ID: "direct:heart@direct.cardio-b.example", OrgID: "cardio-b"}
	ref := gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}

	if _, err := e.svc.AnswerHold(e.ctx, ref, r.ID, "nothing was asked"); err == nil {
		t.Fatal("an answer without a question was accepted")
	}
	if _, err := e.svc.Transition(e.ctx, recv, r.ID, gateway.StatusOnHold, gateway.TransitionInput{Question: "Please send the latest echo report."}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AnswerHold(e.ctx, ref, r.ID, "   "); err == nil {
		t.Fatal("an empty answer was accepted")
	}
	answered, err := e.svc.AnswerHold(e.ctx, ref, r.ID, "Echo report attached.",
		gateway.NewRecord{Title: "Echo report", ContentType: "text/plain", Content: []byte("LVEF 55 percent, no effusion.")})
	if err != nil {
		t.Fatal(err)
	}
	if answered.Status != gateway.StatusReceived || answered.Answer != "Echo report attached." || len(answered.Records) != 2 {
		t.Fatalf("answered: %s %q %d records", answered.Status, answered.Answer, len(answered.Records))
	}
	echo := answered.Records[1].ID

	var answer *gateway.Delivery
	e.waitFor("answer delivered", func() bool {
		for _, d := range e.deliveries(r.ID) {
			if d.Purpose == gateway.PurposeAnswer && d.State == gateway.DeliveryDelivered {
				answer = d
				return true
			}
		}
		return false
	})
	var first *gateway.Delivery
	for _, d := range e.deliveries(r.ID) {
		if d.Channel == gateway.ChannelDirect && d.Purpose == "" {
			first = d
		}
	}
	if answer.Channel != gateway.ChannelDirect || !slices.Equal(answer.RecordIDs, []string{echo}) ||
		first == nil || answer.AnswersRemoteID != first.RemoteID {
		t.Fatalf("answer delivery: %+v (the referral went as %+v)", answer, first)
	}
	got, ok := e.direct.SentFor(answer.ID)
	if !ok || got.Purpose != gateway.PurposeAnswer || !slices.Equal(got.RecordIDs, []string{echo}) || got.Answer != "Echo report attached." {
		t.Fatalf("the receiver got %+v", got)
	}
	if e.fhir.Received() != 0 {
		t.Fatal("the answer went on another channel than the referral")
	}
	if st := e.status(r.ID); st != gateway.StatusReceived {
		t.Fatalf("an answer's receipt moved the referral to %s", st)
	}

	rc, err := e.svc.ComplianceReceipt(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range rc.Lines {
		if l.Section == gateway.SectionAnswer {
			lines = append(lines, l.Statement)
		}
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"info-requested", "answered the request for more information", "answer queued as delivery " + answer.ID} {
		if !strings.Contains(all, want) {
			t.Errorf("receipt lacks %q:\n%s", want, all)
		}
	}
	rep, err := e.svc.PracticeReport(e.ctx, gateway.ReportQuery{Practice: "clinic-a", From: r.Created.Add(-time.Second), To: e.clock.Now().Add(time.Second)})
	if err != nil || rep.InfoRequests != 1 {
		t.Fatalf("report: %+v %v", rep, err)
	}
}
