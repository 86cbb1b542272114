package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// testReverse refers patients back from the receiver: a treatment referral
// inherits its basis and is delivered to the original referrer; a Part 2
// referral asks the new referrer for its own Part 2 consent first.
func testReverse(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	// The referring clinic is on the platform too, so a referral back can reach it.
	a, err := e.svc.Entry(e.ctx, "clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	a.OnPlatform = true
	a.FHIR = &gateway.FHIREndpoint{BaseURL: "https://ehr.clinic-a.example/fhir"}
	e.put(a)
	if _, err := e.svc.VerifyEntry(e.ctx, e.admin, "clinic-a", "phone call"); err != nil {
		t.Fatal(err)
	}
	e.baa("clinic-a", gateway.BAAActive, e.clock.Now().AddDate(1, 0, 0))
	e.startWorkers()

	orig := e.create(referral())
	e.waitFor("received", func() bool { return e.status(orig.ID) == gateway.StatusReceived })
	recv := gateway.Actor{ID: "client:cardio-ehr", OrgID: "cardio-b"}

	// Only the receiver refers back.
	if _, err := e.svc.Reverse(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, orig.ID, gateway.ReverseInput{Submit: true}); !errors.Is(err, gateway.ErrForbidden) {
		t.Fatalf("referrer reversing its own referral: %v", err)
	}
	back, err := e.svc.Reverse(e.ctx, recv, orig.ID, gateway.ReverseInput{ReasonText: "Follow-up in primary care.", Submit: true})
	if err != nil {
		t.Fatalf("reverse: %v", err)
	}
	if back.BasedOn != orig.ID || back.Requester.OrgID != "cardio-b" || back.Requester.PractitionerID != "dr-heart" ||
		back.ReceiverID != "clinic-a" || back.Consent.Kind != gateway.ConsentTreatment || back.Status != gateway.StatusRequested {
		t.Fatalf("reverse referral: %+v", back)
	}
	after, _, _ := e.svc.Referral(e.ctx, orig.ID)
	if len(after.FollowUps) != 1 || after.FollowUps[0] != back.ID {
		t.Fatalf("original does not link its follow-up: %v", after.FollowUps)
	}
	e.waitFor("reverse received", func() bool { return e.status(back.ID) == gateway.StatusReceived })
	if acts := e.actions("cardio-b", orig.ID); !contains(acts, "referral.followed-up") {
		t.Fatalf("follow-up not audited on the original: %v", acts)
	}

	// Part 2: the receiver holds no Part 2 consent of its own, so the
	// referral back waits in draft naming the gap, until one is captured.
	n := referral()
	n.Sensitive.Part2 = true
	n.Consent = gateway.ConsentRef{Kind: gateway.ConsentPart2}
	part2, err := e.svc.CaptureConsent(e.ctx, e.admin, gateway.ConsentRecord{Tenant: "clinic-a", PatientID: "MRN-0001",
		Kind: gateway.ConsentPart2, Signed: e.clock.Now().Add(-time.Hour), Recipients: []string{"cardio-b"}})
	if err != nil {
		t.Fatal(err)
	}
	p2 := e.create(n)
	e.waitFor("part 2 received", func() bool { return e.status(p2.ID) == gateway.StatusReceived })
	// Its receipt names the Part 2 rule, the consent relied on with its
	// scope, and the redisclosure notice that travelled.
	rc, err := e.svc.ComplianceReceipt(e.ctx, p2.ID)
	if err != nil {
		t.Fatal(err)
	}
	var consentLine string
	for _, l := range rc.Lines {
		if l.Section == gateway.SectionConsent {
			consentLine = l.Statement
		}
	}
	for _, want := range []string{"42 CFR 2.31", "part2 " + part2.ID + ": recipients cardio-b, purposes any", "42 CFR 2.32"} {
		if !strings.Contains(consentLine, want) {
			t.Errorf("Part 2 receipt's consent line lacks %q: %s", want, consentLine)
		}
	}
	held, err := e.svc.Reverse(e.ctx, recv, p2.ID, gateway.ReverseInput{Submit: true})
	ce, ok := as[*gateway.ConsentError](err)
	if !ok || !strings.Contains(ce.Gap, "Part 2 consent not on file") || held == nil || held.Status != gateway.StatusDraft {
		t.Fatalf("part 2 reverse without consent: r=%+v err=%v", held, err)
	}
	rec, err := e.svc.CaptureConsent(e.ctx, e.admin, gateway.ConsentRecord{Tenant: "cardio-b", PatientID: "MRN-0001",
		Kind: gateway.ConsentPart2, Signed: e.clock.Now().Add(-time.Hour), Recipients: []string{"clinic-a"}})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := e.svc.Submit(e.ctx, gateway.Actor{ID: "user:cardio", OrgID: "cardio-b"}, held.ID)
	if err != nil || sent.Status != gateway.StatusRequested {
		t.Fatalf("part 2 reverse after consent %s: %+v %v", rec.ID, sent, err)
	}
}
