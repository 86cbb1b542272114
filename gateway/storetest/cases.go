package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

func testDirectory(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	got, err := e.svc.Entry(e.ctx, "dr-heart")
	if err != nil {
		t.Fatal(err)
	}
	if got.ParentID != "cardio-b" || got.Direct.Address != "heart@direct.cardio-b.example" || got.Version != 1 {
		t.Fatalf("entry round trip: %+v", got)
	}
	stale := *got
	got.Name = "Dr. Test Heart, MD"
	if _, err := e.svc.PutEntry(e.ctx, e.admin, got); err != nil {
		t.Fatal(err)
	}
	stale.Name = "lost update"
	if _, err := e.svc.PutEntry(e.ctx, e.admin, &stale); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("stale write: got %v, want ErrConflict", err)
	}
	if _, err := e.svc.PutEntry(e.ctx, e.admin, &gateway.Entry{ID: "bad", Kind: gateway.KindOrganization, Name: "X", NPI: "1234567890"}); err == nil ||
		!strings.Contains(err.Error(), "npi") {
		t.Fatalf("invalid NPI: got %v", err)
	}
	// Search matches names, ids, NPIs and Direct addresses.
	if list, err := e.svc.ListEntries(e.ctx, gateway.EntryQuery{Search: "cardio"}); err != nil || len(list) != 2 {
		t.Fatalf("search cardio: %d %v", len(list), err)
	}
	list, err := e.svc.ListEntries(e.ctx, gateway.EntryQuery{Search: "test heart"})
	if err != nil || len(list) != 1 || list[0].ID != "dr-heart" {
		t.Fatalf("search by name: %v %v", list, err)
	}
	kids, err := e.svc.ListEntries(e.ctx, gateway.EntryQuery{ParentID: "cardio-b"})
	if err != nil || len(kids) != 1 {
		t.Fatalf("children: %v %v", kids, err)
	}
}

func testDeliver(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	e.startWorkers()
	r := e.create(referral())
	if r.Status != gateway.StatusRequested {
		t.Fatalf("status after create+submit: %s (blocked: %s)", r.Status, r.Blocked)
	}
	e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	ds := e.deliveries(r.ID)
	if len(ds) != 1 || ds[0].State != gateway.DeliveryDelivered || ds[0].Channel != gateway.ChannelFHIR {
		t.Fatalf("deliveries: %+v", ds)
	}
	if e.fhir.Received() != 1 {
		t.Fatalf("receiver got %d referrals, want 1", e.fhir.Received())
	}
	asA := gateway.WithPractice(e.ctx, "clinic-a")
	onFHIR, _ := e.svc.ListReferrals(asA, gateway.ReferralQuery{DeliveredOn: gateway.ChannelFHIR})
	onDirect, _ := e.svc.ListReferrals(asA, gateway.ReferralQuery{DeliveredOn: gateway.ChannelDirect})
	if len(onFHIR) != 1 || onFHIR[0].ID != r.ID || len(onDirect) != 0 {
		t.Fatalf("delivered-on filter: fhir %d, direct %d", len(onFHIR), len(onDirect))
	}
	// A cross-practice referral appears in both practices' trails.
	for _, tenant := range []string{"clinic-a", "cardio-b"} {
		acts := e.actions(tenant, r.ID)
		for _, want := range []string{"referral.created", "consent.checked", "referral.routed", "delivery.sent", "delivery.delivered", "referral.received"} {
			if !contains(acts, want) {
				t.Errorf("%s trail lacks %s: %v", tenant, want, acts)
			}
		}
	}
	if rep := e.verify(); !rep.OK() || rep.Tenants < 2 {
		t.Fatalf("verify: %+v", rep)
	}
	// Records are sealed at rest and come back intact.
	got, _, _ := e.svc.Referral(e.ctx, r.ID)
	recs, err := e.svc.RecordContents(e.ctx, got)
	if err != nil || len(recs) != 1 || string(recs[0].Content) != "Sinus rhythm with episodes of AF." {
		t.Fatalf("records: %v %v", recs, err)
	}
}

func testGates(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	actor := gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}

	// Authorization basis with nothing on file: held in draft, gap named.
	n := referral()
	n.Consent = gateway.ConsentRef{Kind: gateway.ConsentAuthorization, Purpose: "research"}
	r, err := e.svc.CreateReferral(e.ctx, actor, n)
	ce, ok := as[*gateway.ConsentError](err)
	if !ok || !strings.Contains(ce.Gap, "authorization not on file") || r == nil || r.Status != gateway.StatusDraft || r.Blocked == "" {
		t.Fatalf("missing authorization: r=%+v err=%v", r, err)
	}
	if acts := e.actions("clinic-a", r.ID); !contains(acts, "referral.send-refused") {
		t.Fatalf("refusal not audited: %v", acts)
	}
	// An expired authorization is named with its date.
	expired := e.clock.Now().AddDate(0, -1, 0)
	if _, err := e.svc.CaptureConsent(e.ctx, e.admin, gateway.ConsentRecord{Tenant: "clinic-a", PatientID: "MRN-0001",
		Kind: gateway.ConsentAuthorization, Signed: expired.AddDate(-1, 0, 0), Expires: expired, Purposes: []string{"research"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Submit(e.ctx, actor, r.ID)
	if ce, ok := as[*gateway.ConsentError](err); !ok || !strings.Contains(ce.Gap, "authorization expired "+expired.Format(time.DateOnly)) {
		t.Fatalf("expired authorization: %v", err)
	}
	// Captured: the same draft now goes.
	if _, err := e.svc.CaptureConsent(e.ctx, e.admin, gateway.ConsentRecord{Tenant: "clinic-a", PatientID: "MRN-0001",
		Kind: gateway.ConsentAuthorization, Signed: e.clock.Now().Add(-time.Hour), Expires: e.clock.Now().AddDate(1, 0, 0),
		Recipients: []string{"cardio-b"}, Purposes: []string{"research"}}); err != nil {
		t.Fatal(err)
	}
	if r, err = e.svc.Submit(e.ctx, actor, r.ID); err != nil || r.Status != gateway.StatusRequested || r.Blocked != "" {
		t.Fatalf("after capture: %+v %v", r, err)
	}

	// Part 2 records without a Part 2 consent.
	n = referral()
	n.Sensitive.Part2 = true
	_, err = e.svc.CreateReferral(e.ctx, actor, n)
	if ce, ok := as[*gateway.ConsentError](err); !ok || !strings.Contains(ce.Gap, "Part 2 consent not on file") {
		t.Fatalf("part 2: %v", err)
	}

	// Required by law needs its citation.
	n = referral()
	n.Consent = gateway.ConsentRef{Kind: gateway.ConsentRequiredByLaw}
	_, err = e.svc.CreateReferral(e.ctx, actor, n)
	if _, ok := as[*gateway.ConsentError](err); !ok || !strings.Contains(err.Error(), "citation") {
		t.Fatalf("required by law: %v", err)
	}

	// Minimum necessary: an SSN in the free text blocks until overridden.
	n = referral()
	n.ReasonText = "Patient SSN 123-45-6789 for billing."
	r, err = e.svc.CreateReferral(e.ctx, actor, n)
	if me, ok := as[*gateway.MinimumNecessaryError](err); !ok || me.Findings[0].Kind != "ssn" || strings.Contains(err.Error(), "123-45") {
		t.Fatalf("minimum necessary: %v", err)
	}
	if _, err := e.svc.OverrideMinimumNecessary(e.ctx, actor, r.ID, "receiving practice bills the referral"); err != nil {
		t.Fatal(err)
	}
	if r, err = e.svc.Submit(e.ctx, actor, r.ID); err != nil || r.Status != gateway.StatusRequested {
		t.Fatalf("after override: %v", err)
	}
	if acts := e.actions("clinic-a", r.ID); !contains(acts, "minimum-necessary.overridden") {
		t.Fatalf("override not audited: %v", acts)
	}

	// Unverified first-time recipient.
	e.put(&gateway.Entry{ID: "new-ortho", Kind: gateway.KindOrganization, Name: "Synthetic Ortho", OnPlatform: true,
		FHIR: &gateway.FHIREndpoint{BaseURL: "https://ortho.example/fhir"}})
	e.baa("new-ortho", gateway.BAAActive, e.clock.Now().AddDate(1, 0, 0))
	n = referral()
	n.ReceiverID = "new-ortho"
	if _, err = e.svc.CreateReferral(e.ctx, actor, n); err == nil {
		t.Fatal("unverified recipient accepted")
	} else if _, ok := as[*gateway.UnverifiedRecipientError](err); !ok {
		t.Fatalf("unverified: %v", err)
	}

	// Unknown receiver and malformed input name the field; nothing is written.
	n = referral()
	n.ReceiverID = "nobody"
	_, err = e.svc.CreateReferral(e.ctx, actor, n)
	if ve, ok := as[*gateway.ValidationError](err); !ok || ve.Field != "receiverId" {
		t.Fatalf("unknown receiver: %v", err)
	}
	n = referral()
	n.Patient.ID, n.Consent.Kind = "", ""
	_, err = e.svc.CreateReferral(e.ctx, actor, n)
	if !strings.Contains(fmt.Sprint(err), "patient.id") || !strings.Contains(fmt.Sprint(err), "consent.kind") {
		t.Fatalf("validation: %v", err)
	}
}

func testBAAAtSendTime(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	actor := gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}
	// Expiring still permits PHI.
	e.baa("cardio-b", gateway.BAAActive, e.clock.Now().Add(10*24*time.Hour))
	r := e.create(referral())
	if r.Status != gateway.StatusRequested {
		t.Fatalf("expiring BAA refused: %s", r.Blocked)
	}
	// Time passes before the worker runs: the BAA has expired at send time.
	e.clock.Advance(11 * 24 * time.Hour)
	e.startWorkers()
	e.waitFor("failed", func() bool { return e.status(r.ID) == gateway.StatusFailed })
	got, _, _ := e.svc.Referral(e.ctx, r.ID)
	if !strings.Contains(got.FailureReason, "expired") {
		t.Fatalf("failure reason: %q", got.FailureReason)
	}
	if e.fhir.Received() != 0 || e.direct.Received() != 0 {
		t.Fatal("PHI left under an expired BAA")
	}
	if acts := e.actions("clinic-a", r.ID); !contains(acts, "delivery.send-refused") {
		t.Fatalf("send-time refusal not audited: %v", acts)
	}
	// And at creation time the refusal is immediate.
	_, err := e.svc.CreateReferral(e.ctx, actor, referral())
	if be, ok := as[*gateway.BAAError](err); !ok || be.State != gateway.BAAExpired {
		t.Fatalf("expired BAA at create: %v", err)
	}
	// An illegal BAA transition is refused and audited.
	if _, err := e.svc.SetBAA(e.ctx, e.admin, gateway.BAAChange{PartyID: "cardio-b", State: gateway.BAATerminated}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetBAA(e.ctx, e.admin, gateway.BAAChange{PartyID: "cardio-b", State: gateway.BAAActive, End: e.clock.Now().AddDate(1, 0, 0)}); err == nil {
		t.Fatal("terminated BAA reactivated")
	}
	if acts := e.actions("cardio-b", ""); !contains(acts, "baa.transition-refused") {
		t.Fatalf("BAA refusal not audited: %v", acts)
	}
}

func testFallback(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{Permanent: true}, Behavior{})
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received via Direct", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	ds := e.deliveries(r.ID)
	if len(ds) != 2 || ds[0].Channel != gateway.ChannelFHIR || ds[0].State != gateway.DeliveryFailed ||
		ds[1].Channel != gateway.ChannelDirect || ds[1].State != gateway.DeliveryDelivered {
		t.Fatalf("deliveries: %+v %+v", ds[0], ds[len(ds)-1])
	}
	// Every channel fails: the referral fails and says why.
	e.direct.SetBehavior(Behavior{Permanent: true})
	r2 := e.create(referral())
	e.waitFor("failed", func() bool { return e.status(r2.ID) == gateway.StatusFailed })
	got, _, _ := e.svc.Referral(e.ctx, r2.ID)
	if !strings.Contains(got.FailureReason, "fhir") || !strings.Contains(got.FailureReason, "direct") {
		t.Fatalf("failure reason: %q", got.FailureReason)
	}
	// A failed referral is re-routed by a replacement.
	e.direct.SetBehavior(Behavior{})
	nr, err := e.svc.Replace(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, r2.ID, "cardio-b", true)
	if err != nil || nr.Replaces != r2.ID {
		t.Fatalf("replace: %v", err)
	}
	e.waitFor("replacement received", func() bool { return e.status(nr.ID) == gateway.StatusReceived })
	// A second replacement is refused and creates nothing.
	before, _ := e.svc.ListReferrals(e.ctx, gateway.ReferralQuery{})
	if _, err := e.svc.Replace(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, r2.ID, "cardio-b", true); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("second replace: %v", err)
	}
	after, _ := e.svc.ListReferrals(e.ctx, gateway.ReferralQuery{})
	if len(after) != len(before) {
		t.Fatalf("a refused replace left %d referral(s) behind", len(after)-len(before))
	}
}

func testRetry(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{TempFailures: 2}, Behavior{})
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	ds := e.deliveries(r.ID)
	if len(ds) != 1 || e.fhir.Attempts(ds[0].ID) != 3 || e.fhir.Received() != 1 {
		t.Fatalf("want 1 delivery after 3 attempts, got %d deliveries, %d attempts", len(ds), e.fhir.Attempts(ds[0].ID))
	}
	if acts := e.actions("clinic-a", r.ID); !contains(acts, "delivery.retry") {
		t.Fatalf("retry not audited: %v", acts)
	}
}

func testCancelMidSend(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{BlockFirst: true}, Behavior{})
	if err := e.store.StartWorkers(e.ctx, e.svc); err != nil {
		t.Fatal(err)
	}
	r := e.create(referral())
	select {
	case <-e.fhir.Blocked():
	case <-time.After(15 * time.Second):
		t.Fatal("send never started")
	}
	// Kill the worker mid-send: stop with no patience, cancelling the job.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_ = e.store.StopWorkers(ctx)
	cancel()
	if s := e.status(r.ID); s != gateway.StatusRequested {
		t.Fatalf("status after kill: %s", s)
	}
	// Restart: the delivery completes exactly once.
	e.startWorkers()
	e.waitFor("received after restart", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	ds := e.deliveries(r.ID)
	if len(ds) != 1 || ds[0].State != gateway.DeliveryDelivered {
		t.Fatalf("deliveries: %+v", ds)
	}
	if e.fhir.Received() != 1 || e.fhir.Attempts(ds[0].ID) != 2 {
		t.Fatalf("received %d, attempts %d: want 1 delivery from 2 attempts with one idempotency key", e.fhir.Received(), e.fhir.Attempts(ds[0].ID))
	}
	sent := 0
	for _, a := range e.actions("clinic-a", r.ID) {
		if a == "delivery.delivered" {
			sent++
		}
	}
	if sent != 1 {
		t.Fatalf("delivered recorded %d times", sent)
	}
}

func testDeadline(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{Unreachable: "no FHIR endpoint"}, Behavior{Await: time.Hour})
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("sent", func() bool {
		ds := e.deliveries(r.ID)
		return len(ds) == 1 && ds[0].State == gateway.DeliverySent
	})
	d := e.deliveries(r.ID)[0]
	// Before the deadline the check only snoozes.
	if err := e.svc.CheckReceiptDeadline(e.ctx, d.ID); !errors.As(err, new(*gateway.SnoozeError)) {
		t.Fatalf("early deadline check: %v", err)
	}
	// A processed receipt that is not final records progress and extends the deadline.
	if _, err := e.svc.RecordReceipt(e.ctx, d.ID, gateway.Receipt{Kind: gateway.ReceiptProcessed}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(90 * time.Minute)
	if err := e.svc.CheckReceiptDeadline(e.ctx, d.ID); !errors.As(err, new(*gateway.SnoozeError)) {
		t.Fatalf("extended deadline: %v", err)
	}
	e.clock.Advance(time.Hour)
	if err := e.svc.CheckReceiptDeadline(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if s := e.status(r.ID); s != gateway.StatusFailed {
		t.Fatalf("after deadline: %s", s)
	}
	if acts := e.actions("clinic-a", r.ID); !contains(acts, "delivery.timeout") {
		t.Fatalf("timeout not audited: %v", acts)
	}
	// A late receipt is recorded but changes nothing.
	if _, err := e.svc.RecordReceipt(e.ctx, d.ID, gateway.Receipt{Kind: gateway.ReceiptDispatched, Final: true}, 0); err != nil {
		t.Fatal(err)
	}
	if s := e.status(r.ID); s != gateway.StatusFailed {
		t.Fatalf("late receipt moved the referral: %s", s)
	}
}

func testLifecycle(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	recv := gateway.Actor{ID: "client:cardio-ehr", OrgID: "cardio-b"}
	ref := gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}
	other := gateway.Actor{ID: "client:stranger", OrgID: "elsewhere"}

	// To another practice the referral does not exist (on PostgreSQL its
	// row is not visible to that practice at all).
	if _, err := e.svc.Transition(e.ctx, other, r.ID, gateway.StatusAccepted, gateway.TransitionInput{}); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("stranger: %v", err)
	}
	before, _, _ := e.svc.Referral(e.ctx, r.ID)
	_, err := e.svc.Transition(e.ctx, recv, r.ID, gateway.StatusCompleted, gateway.TransitionInput{Outcome: &gateway.Outcome{Summary: "x"}})
	if _, ok := as[*gateway.TransitionError](err); !ok {
		t.Fatalf("received → completed: %v", err)
	}
	after, _, _ := e.svc.Referral(e.ctx, r.ID)
	if after.Version != before.Version || after.Status != before.Status {
		t.Fatal("refused transition changed the referral")
	}
	if acts := e.actions("cardio-b", r.ID); !contains(acts, "referral.transition-refused") {
		t.Fatalf("refusal not audited: %v", acts)
	}
	if _, err := e.svc.Transition(e.ctx, recv, r.ID, gateway.StatusOnHold, gateway.TransitionInput{}); err == nil {
		t.Fatal("on-hold without a question")
	}
	steps := []struct {
		actor gateway.Actor
		to    gateway.Status
		in    gateway.TransitionInput
	}{
		{recv, gateway.StatusOnHold, gateway.TransitionInput{Question: "Please send the latest echo report."}},
		{ref, gateway.StatusReceived, gateway.TransitionInput{Answer: "Attached to the chart; no echo on file."}},
		{recv, gateway.StatusAccepted, gateway.TransitionInput{BusinessStatus: "appointment booked"}},
		{recv, gateway.StatusInProgress, gateway.TransitionInput{}},
		{recv, gateway.StatusCompleted, gateway.TransitionInput{Outcome: &gateway.Outcome{Reference: "DocumentReference/consult-1", Summary: "Consult note"}}},
	}
	for _, s := range steps {
		got, err := e.svc.Transition(e.ctx, s.actor, r.ID, s.to, s.in)
		if err != nil {
			t.Fatalf("→ %s: %v", s.to, err)
		}
		if got.Status != s.to {
			t.Fatalf("status %s, want %s", got.Status, s.to)
		}
	}
	// Progress after completion is refused: the referral is closed.
	if _, err := e.svc.UpdateProgress(e.ctx, recv, r.ID, "late note", 0); err == nil {
		t.Fatal("progress on a completed referral")
	}
	final, _, _ := e.svc.Referral(e.ctx, r.ID)
	if final.Outcome == nil || final.Outcome.Reference != "DocumentReference/consult-1" || final.Answer == "" || final.BusinessStatus != "appointment booked" {
		t.Fatalf("final: %+v", final)
	}
	var versions []*gateway.Referral
	if err := e.store.View(gateway.WithPractice(e.ctx, "cardio-b"), func(tx gateway.Tx) error {
		var err error
		versions, err = tx.ReferralVersions(e.ctx, r.ID)
		return err
	}); err != nil || len(versions) != final.Version {
		t.Fatalf("versions: %d vs %d (%v)", len(versions), final.Version, err)
	}
	// Stale If-Match.
	_, err = e.svc.Transition(e.ctx, ref, r.ID, gateway.StatusCancelled, gateway.TransitionInput{ReasonText: "x", ExpectVersion: 1})
	if !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	for _, want := range []string{"referral.info-requested", "referral.accepted", "referral.started", "referral.closed"} {
		if !contains(e.actions("clinic-a", r.ID), want) {
			t.Errorf("missing %s", want)
		}
	}
	r2 := e.create(referral())
	e.waitFor("received", func() bool { return e.status(r2.ID) == gateway.StatusReceived })
	// The receiver reports progress without a transition; the referrer cannot.
	if got, err := e.svc.UpdateProgress(e.ctx, recv, r2.ID, "triaged", 0); err != nil || got.BusinessStatus != "triaged" || got.Status != gateway.StatusReceived {
		t.Fatalf("progress: %+v %v", got, err)
	}
	if _, err := e.svc.UpdateProgress(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, r2.ID, "x", 0); !errors.Is(err, gateway.ErrForbidden) {
		t.Fatalf("referrer progress: %v", err)
	}
	if _, err := e.svc.Transition(e.ctx, recv, r2.ID, gateway.StatusRejected, gateway.TransitionInput{}); err == nil {
		t.Fatal("reject without a reason")
	}
	if _, err := e.svc.Transition(e.ctx, recv, r2.ID, gateway.StatusRejected, gateway.TransitionInput{
		Reason: gateway.Coding{Code: "out-of-network"}, ReasonText: "Not in network"}); err != nil {
		t.Fatal(err)
	}
	if rep := e.verify(); !rep.OK() {
		t.Fatalf("verify: %+v", rep)
	}
}

func testAtomic(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	heads, _ := e.store.AuditHeads(e.ctx)
	boom := errors.New("boom")
	asA := gateway.WithPractice(e.ctx, "clinic-a")
	err := e.store.Update(asA, func(tx gateway.Tx) error {
		r := &gateway.Referral{ID: gateway.NewID(), Version: 1, Status: gateway.StatusDraft, Requester: gateway.Requester{OrgID: "clinic-a"},
			ReceiverID: "dr-heart", ReceiverOrgID: "cardio-b", Patient: gateway.Patient{ID: "p"}, Created: e.clock.Now(), Updated: e.clock.Now()}
		if err := tx.InsertReferral(e.ctx, r); err != nil {
			return err
		}
		if err := tx.Audit(e.ctx, audit.Event{Time: e.clock.Now(), Actor: "system", Tenants: []string{"clinic-a"}, Action: "x", Outcome: audit.OutcomeSuccess}); err != nil {
			return err
		}
		if err := tx.Enqueue(e.ctx, gateway.Job{Kind: gateway.JobDeliver, DeliveryID: "nope"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	list, _ := e.svc.ListReferrals(asA, gateway.ReferralQuery{})
	after, _ := e.store.AuditHeads(e.ctx)
	if len(list) != 0 || fmt.Sprint(heads) != fmt.Sprint(after) {
		t.Fatalf("rolled-back transaction left state: %d referrals, heads %v → %v", len(list), heads, after)
	}
}

func testList(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	var ids []string
	for i := 0; i < 5; i++ {
		n := referral()
		n.Submit = false
		n.Identifier = fmt.Sprintf("REF-%d", i)
		if i%2 == 1 {
			n.Patient.ID = "MRN-0002"
		}
		ids = append(ids, e.create(n).ID)
	}
	n := referral()
	n.Identifier = "REF-0"
	if _, err := e.svc.CreateReferral(e.ctx, gateway.Actor{ID: "u", OrgID: "clinic-a"}, n); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("duplicate identifier: %v", err)
	}
	var got []string
	after := ""
	for {
		page, err := e.svc.ListReferrals(e.ctx, gateway.ReferralQuery{InvolvesOrg: "cardio-b", AfterID: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			got = append(got, r.ID)
		}
		after = page[len(page)-1].ID
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("paging: %v vs %v", got, ids)
	}
	asA := gateway.WithPractice(e.ctx, "clinic-a")
	byPatient, _ := e.svc.ListReferrals(asA, gateway.ReferralQuery{Patient: &gateway.Token{Value: "MRN-0002", AnySystem: true}, Statuses: []gateway.Status{gateway.StatusDraft}})
	none, _ := e.svc.ListReferrals(e.ctx, gateway.ReferralQuery{InvolvesOrg: "elsewhere"})
	since, _ := e.svc.ListReferrals(asA, gateway.ReferralQuery{UpdatedFrom: e.clock.Now().Add(-time.Minute), UpdatedTo: e.clock.Now().Add(time.Minute)})
	// With no practice and no organisation named, nothing is listed.
	if all, err := e.svc.ListReferrals(e.ctx, gateway.ReferralQuery{}); err != nil || len(all) != 0 {
		t.Fatalf("no practice: %d referrals, %v", len(all), err)
	}
	if len(byPatient) != 2 || len(none) != 0 || len(since) != 5 {
		t.Fatalf("filters: patient %d, other org %d, updated %d", len(byPatient), len(none), len(since))
	}
	var byID *gateway.Referral
	_ = e.store.View(asA, func(tx gateway.Tx) error {
		var err error
		byID, err = tx.ReferralByIdentifier(e.ctx, "clinic-a", "REF-3")
		return err
	})
	if byID == nil || byID.ID != ids[3] {
		t.Fatal("lookup by identifier")
	}
}

func testTamper(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	if rep := e.verify(); !rep.OK() {
		t.Fatalf("fresh trail: %+v", rep)
	}
	// The store refuses ordinary changes to the trail.
	h.Tamper(t, e.store, "clinic-a", 3)
	rep := e.verify()
	if rep.OK() {
		t.Fatal("tampering not detected")
	}
	if len(rep.Breaks) != 1 || rep.Breaks[0].Tenant != "clinic-a" || rep.Breaks[0].Seq != 3 {
		t.Fatalf("breaks: %+v", rep.Breaks)
	}
}

func testDocuments(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	now := e.clock.Now()
	put := func(d gateway.Document) error {
		return e.store.Update(e.ctx, func(tx gateway.Tx) error { return tx.PutDocument(e.ctx, d) })
	}
	if err := put(gateway.Document{Kind: "client", ID: "ehr-1", Version: 1, Updated: now, Body: []byte(`{"org":"cardio-b"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := put(gateway.Document{Kind: "client", ID: "ehr-1", Version: 1, Updated: now, Body: []byte(`{}`)}); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("stale put: %v", err)
	}
	if err := put(gateway.Document{Kind: "client", ID: "ehr-1", Version: 2, Updated: now, Body: []byte(`{"org":"cardio-c"}`)}); err != nil {
		t.Fatal(err)
	}
	var first, second bool
	_ = e.store.Update(e.ctx, func(tx gateway.Tx) error {
		var err error
		first, err = tx.InsertDocument(e.ctx, gateway.Document{Kind: "jti", ID: "abc", Version: 1, Updated: now, Expires: now.Add(time.Minute), Body: []byte(`{}`)})
		if err != nil {
			return err
		}
		second, err = tx.InsertDocument(e.ctx, gateway.Document{Kind: "jti", ID: "abc", Version: 1, Updated: now, Body: []byte(`{}`)})
		return err
	})
	if !first || second {
		t.Fatalf("insert-once: %v %v", first, second)
	}
	_ = e.store.View(e.ctx, func(tx gateway.Tx) error {
		d, err := tx.Document(e.ctx, "client", "ehr-1")
		if err != nil || d.Version != 2 || string(d.Body) != `{"org":"cardio-c"}` {
			t.Fatalf("get: %+v %v", d, err)
		}
		live, _ := tx.Documents(e.ctx, "jti", now)
		later, _ := tx.Documents(e.ctx, "jti", now.Add(2*time.Minute))
		if len(live) != 1 || len(later) != 0 {
			t.Fatalf("expiry: %d %d", len(live), len(later))
		}
		if _, err := tx.Document(e.ctx, "client", "nope"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		return nil
	})
	if err := e.store.Update(e.ctx, func(tx gateway.Tx) error { return tx.DeleteDocument(e.ctx, "client", "ehr-1") }); err != nil {
		t.Fatal(err)
	}
	// The sweep removes what expired and nothing else.
	_ = put(gateway.Document{Kind: "session", ID: "s1", Version: 1, Updated: now, Expires: now.Add(30 * time.Second), Body: []byte(`{}`)})
	_ = put(gateway.Document{Kind: "session", ID: "s2", Version: 1, Updated: now, Expires: now.Add(time.Hour), Body: []byte(`{}`)})
	_ = put(gateway.Document{Kind: "client", ID: "kept", Version: 1, Updated: now, Body: []byte(`{}`)})
	e.clock.Advance(2 * time.Minute)
	if n, err := e.svc.SweepExpired(e.ctx); err != nil || n != 2 { // the jti (1 min) and s1
		t.Fatalf("sweep: %d %v", n, err)
	}
	_ = e.store.View(e.ctx, func(tx gateway.Tx) error {
		for _, k := range [][2]string{{"session", "s2"}, {"client", "kept"}} {
			if _, err := tx.Document(e.ctx, k[0], k[1]); err != nil {
				t.Errorf("sweep removed %s/%s: %v", k[0], k[1], err)
			}
		}
		return nil
	})
}

func testRetryableReceipt(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{Await: time.Hour}, Behavior{Await: time.Hour})
	r := e.create(referral())
	// Drive the jobs by hand: each send succeeds, then a "busy" receipt fails it.
	for i := 1; i <= 3; i++ {
		ds := e.deliveries(r.ID)
		d := ds[len(ds)-1]
		if d.Channel != gateway.ChannelFHIR || d.State != gateway.DeliveryQueued {
			t.Fatalf("attempt %d: %+v", i, d)
		}
		if err := e.svc.HandleJob(e.ctx, gateway.Job{Kind: gateway.JobDeliver, DeliveryID: d.ID}, gateway.JobMeta{Attempt: 1, MaxAttempts: 5}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RecordReceipt(e.ctx, d.ID, gateway.Receipt{Kind: gateway.ReceiptFailed, Detail: "busy", Retryable: true}, 0); err != nil {
			t.Fatal(err)
		}
	}
	// After three busy signals the channel is spent: fall back to Direct.
	ds := e.deliveries(r.ID)
	if len(ds) != 4 || ds[3].Channel != gateway.ChannelDirect || e.status(r.ID) != gateway.StatusRequested {
		t.Fatalf("after retries: %d deliveries, last %+v", len(ds), ds[len(ds)-1])
	}
	if acts := e.actions("clinic-a", r.ID); !contains(acts, "delivery.retry-scheduled") || !contains(acts, "referral.fallback") {
		t.Fatalf("trail: %v", acts)
	}
}

// receiptFirstChannel delivers a receipt for the delivery before Send
// returns, as a fast fax callback or MDN can.
type receiptFirstChannel struct {
	*RecordingChannel
	svc *gateway.Service
}

func (c *receiptFirstChannel) Send(ctx context.Context, out *gateway.Outbound) (gateway.SendResult, error) {
	res, err := c.RecordingChannel.Send(ctx, out)
	if err != nil {
		return res, err
	}
	if _, err := c.svc.RecordReceipt(ctx, out.Delivery.ID, gateway.Receipt{Kind: gateway.ReceiptFaxSuccess, Final: true}, 0); err != nil {
		return res, err
	}
	return res, nil
}

func testReceiptBeforeSendRecorded(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{Await: time.Hour}, Behavior{})
	ch := &receiptFirstChannel{RecordingChannel: e.fhir}
	key := make([]byte, 32)
	sealer, _ := gateway.NewSealer(key)
	e.svc = gateway.NewService(e.store, sealer, e.clock, gateway.DefaultConfig(), nil, ch, e.direct)
	ch.svc = e.svc
	r := e.create(referral())
	d := e.deliveries(r.ID)[0]
	if err := e.svc.HandleJob(e.ctx, gateway.Job{Kind: gateway.JobDeliver, DeliveryID: d.ID}, gateway.JobMeta{Attempt: 1, MaxAttempts: 3}); err != nil {
		t.Fatal(err)
	}
	got := e.deliveries(r.ID)[0]
	if got.State != gateway.DeliveryDelivered || got.RemoteID != "remote-"+d.ID || got.SentAt.IsZero() {
		t.Fatalf("delivery after an early receipt: %+v", got)
	}
	if acts := e.actions("clinic-a", r.ID); !contains(acts, "delivery.sent") || !contains(acts, "delivery.delivered") {
		t.Fatalf("trail: %v", acts)
	}
}

// flakyStore fails the next few write transactions, as a database that
// goes away for a while does.
type flakyStore struct {
	gateway.Store
	mu       sync.Mutex
	failNext int
	failed   int
}

func (f *flakyStore) Update(ctx context.Context, fn func(gateway.Tx) error) error {
	f.mu.Lock()
	if f.failNext > 0 {
		f.failNext--
		f.failed++
		f.mu.Unlock()
		return errors.New("database unavailable (simulated outage)")
	}
	f.mu.Unlock()
	return f.Store.Update(ctx, fn)
}

func (f *flakyStore) trip(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = n
}

// testDatabaseOutage: the database goes away right after the channel sent,
// before the send is recorded. The work is delayed, not lost, and the
// receiver sees the referral once (the resend carries the same key).
func testDatabaseOutage(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	flaky := &flakyStore{Store: e.store}
	e.fhir.SetBehavior(Behavior{AfterSend: func(attempt int) {
		if attempt == 1 {
			flaky.trip(2) // the result write and the next claim fail
		}
	}})
	key := make([]byte, 32)
	sealer, _ := gateway.NewSealer(key)
	e.svc = gateway.NewService(flaky, sealer, e.clock, gateway.DefaultConfig(), nil, e.fhir, e.direct)
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received after the outage", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	ds := e.deliveries(r.ID)
	if len(ds) != 1 || ds[0].State != gateway.DeliveryDelivered {
		t.Fatalf("deliveries: %+v", ds)
	}
	flaky.mu.Lock()
	failed := flaky.failed
	flaky.mu.Unlock()
	if failed != 2 || e.fhir.Attempts(ds[0].ID) != 2 || e.fhir.Received() != 1 {
		t.Fatalf("outage: %d failed writes, %d sends, %d received; want 2, 2, 1", failed, e.fhir.Attempts(ds[0].ID), e.fhir.Received())
	}
	if rep := e.verify(); !rep.OK() {
		t.Fatalf("trail: %+v", rep)
	}
}
