package storetest

import (
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// testPracticeReport seeds a small set of referrals whose figures are
// known (answer times 1h, 2h and 4h; one decline; one request for more
// information; one Part 2 referral; a consent refusal left open; one
// delivery failed over to Direct) and checks every figure of the
// referrer's and the receiver's report.
func testPracticeReport(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	e.startWorkers()
	from := e.clock.Now().Add(-time.Minute)
	recv := gateway.Actor{ID: "client:cardio-ehr", OrgID: "cardio-b"}
	move := func(id string, to gateway.Status, in gateway.TransitionInput) {
		t.Helper()
		if _, err := e.svc.Transition(e.ctx, recv, id, to, in); err != nil {
			t.Fatalf("%s → %s: %v", id, to, err)
		}
	}
	received := func() *gateway.Referral {
		t.Helper()
		r := e.create(referral())
		e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })
		return r
	}

	r1, r2, r3 := received(), received(), received()
	e.clock.Advance(time.Hour)
	move(r3.ID, gateway.StatusRejected, gateway.TransitionInput{ReasonText: "not our specialty"}) // answered after 1h, declined
	e.clock.Advance(time.Hour)
	move(r1.ID, gateway.StatusAccepted, gateway.TransitionInput{}) // 2h
	move(r2.ID, gateway.StatusOnHold, gateway.TransitionInput{Question: "Which medication?"})
	if _, err := e.svc.AnswerHold(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, r2.ID, "See the list attached."); err != nil {
		t.Fatal(err)
	}
	// The answer goes back on FHIR; let it arrive before FHIR is made to fail below.
	e.waitFor("answer delivered", func() bool {
		for _, d := range e.deliveries(r2.ID) {
			if d.Purpose == gateway.PurposeAnswer && d.State == gateway.DeliveryDelivered {
				return true
			}
		}
		return false
	})
	e.clock.Advance(2 * time.Hour)
	move(r2.ID, gateway.StatusAccepted, gateway.TransitionInput{}) // 4h
	move(r1.ID, gateway.StatusInProgress, gateway.TransitionInput{})
	move(r1.ID, gateway.StatusCompleted, gateway.TransitionInput{Outcome: &gateway.Outcome{Reference: "DocumentReference/c1"}}) // closed after 4h

	// A Part 2 referral with its consent on file.
	if _, err := e.svc.CaptureConsent(e.ctx, e.admin, gateway.ConsentRecord{Tenant: "clinic-a", PatientID: "MRN-0001",
		Kind: gateway.ConsentPart2, Signed: e.clock.Now().Add(-time.Hour), Recipients: []string{"cardio-b"}}); err != nil {
		t.Fatal(err)
	}
	p2 := referral()
	p2.Sensitive.Part2 = true
	r4 := e.create(p2)
	e.waitFor("part 2 received", func() bool { return e.status(r4.ID) == gateway.StatusReceived })

	// A referral the consent gate refuses: it stays an open draft.
	blocked := referral()
	blocked.Consent = gateway.ConsentRef{Kind: gateway.ConsentAuthorization, Purpose: "research"}
	r5, _ := e.svc.CreateReferral(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, blocked)
	if r5 == nil || r5.Status != gateway.StatusDraft {
		t.Fatalf("blocked referral: %+v", r5)
	}

	// FHIR fails permanently once: the delivery falls back to Direct.
	e.fhir.SetBehavior(Behavior{Permanent: true})
	r6 := e.create(referral())
	e.waitFor("received via Direct", func() bool { return e.status(r6.ID) == gateway.StatusReceived })
	e.fhir.SetBehavior(Behavior{})

	e.clock.Advance(20 * 24 * time.Hour) // everything still open is now past the 14-day remediation age
	to := e.clock.Now()
	rep, err := e.svc.PracticeReport(e.ctx, gateway.ReportQuery{Practice: "clinic-a", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	count := func(cs []gateway.ChannelCount, ch string) int {
		for _, c := range cs {
			if c.Channel == ch {
				return c.Count
			}
		}
		return 0
	}
	if rep.ReferralsOut != 6 || count(rep.Sent, "fhir") != 4 || count(rep.Sent, "direct") != 1 || count(rep.Sent, "none") != 1 {
		t.Errorf("sent: out=%d %+v", rep.ReferralsOut, rep.Sent)
	}
	if rep.Intra != 0 || rep.Cross != 6 || rep.ReferralsIn != 0 {
		t.Errorf("intra %d cross %d in %d", rep.Intra, rep.Cross, rep.ReferralsIn)
	}
	if rep.Declined != 1 || rep.InfoRequests != 1 || rep.Part2 != 1 || rep.Rerouted != 0 {
		t.Errorf("exceptions: declined %d info %d part2 %d rerouted %d", rep.Declined, rep.InfoRequests, rep.Part2, rep.Rerouted)
	}
	hours := func(d gateway.Duration) float64 { return time.Duration(d).Hours() }
	if a := rep.TimeToAnswer; a.Count != 3 || hours(a.Median) != 2 || hours(a.P90) != 3.6 {
		t.Errorf("time to answer: %+v (want 3 answers, median 2h, p90 3.6h)", a)
	}
	if c := rep.TimeToClosure; c.Count != 1 || hours(c.Median) != 4 {
		t.Errorf("time to closure: %+v", c)
	}
	if len(rep.TimeToReceipt) != 2 || rep.TimeToReceipt[0].Channel != "direct" || rep.TimeToReceipt[1].Channel != "fhir" ||
		rep.TimeToReceipt[1].Count != 4 {
		t.Errorf("time to receipt: %+v", rep.TimeToReceipt)
	}
	if rep.RefusalsByGate["consent"] != 1 || len(rep.RefusalsByGate) != 1 {
		t.Errorf("refusals: %v", rep.RefusalsByGate)
	}
	if len(rep.FailedDeliveries) != 1 || rep.FailedDeliveries[0].Channel != "fhir" || rep.FailedDeliveries[0].Count != 1 {
		t.Errorf("failed deliveries: %+v", rep.FailedDeliveries)
	}
	// Open past 14 days: r2 (accepted), r4 and r6 (received), r5 (draft); r1 closed, r3 declined.
	if rep.OpenPastAge != 4 || len(rep.Remediation) != 4 || rep.Remediation[0].Direction != "sent" {
		t.Errorf("remediation: %d %+v", rep.OpenPastAge, rep.Remediation)
	}

	// The receiver's report counts the same referrals as received.
	in, err := e.svc.PracticeReport(e.ctx, gateway.ReportQuery{Practice: "cardio-b", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if in.ReferralsIn != 6 || in.ReferralsOut != 0 || count(in.Received, "fhir") != 4 || in.OpenPastAge != 4 ||
		in.Remediation[0].Direction != "received" {
		t.Errorf("receiver's report: %+v", in)
	}
	// A period before any referral is empty.
	empty, err := e.svc.PracticeReport(e.ctx, gateway.ReportQuery{Practice: "clinic-a", From: from.Add(-48 * time.Hour), To: from})
	if err != nil || empty.ReferralsOut != 0 || len(empty.TimeToReceipt) != 0 {
		t.Errorf("empty period: %+v %v", empty, err)
	}
	if _, err := e.svc.PracticeReport(e.ctx, gateway.ReportQuery{Practice: "clinic-a", From: to, To: from}); err == nil {
		t.Error("a period that ends before it starts was accepted")
	}
}
