package gateway_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/referralgw/gateway/gateway"
)

func ExampleCheckTransition() {
	// The receiver accepts a referral it has received.
	fmt.Println(gateway.CheckTransition(gateway.StatusReceived, gateway.StatusAccepted, gateway.SideReceiver))

	// The referrer cannot accept on the receiver's behalf; the refusal names the rule.
	err := gateway.CheckTransition(gateway.StatusReceived, gateway.StatusAccepted, gateway.SideReferrer)
	var te *gateway.TransitionError
	if errors.As(err, &te) {
		fmt.Println(te.Rule)
	}

	// A completed referral is closed: nobody may cancel it.
	fmt.Println(gateway.CheckTransition(gateway.StatusCompleted, gateway.StatusCancelled, gateway.SideReferrer) != nil)
	// Output:
	// <nil>
	// only the receiver may move a referral to accepted
	// true
}

func ExampleCheckConsent() {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r := &gateway.Referral{
		ID:         "ref-1",
		Requester:  gateway.Requester{OrgID: "org-alpha"},
		ReceiverID: "prac-bob",
		Patient:    gateway.Patient{ID: "pat-001"},
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
	}
	chain := []string{"prac-bob", "org-beta"} // the receiver, then its organization

	// Provider-to-provider treatment needs nothing on file.
	fmt.Println(gateway.CheckConsent(r, chain, nil, now))

	// Substance-use-disorder records need the patient's Part 2 consent.
	r.Sensitive.Part2 = true
	fmt.Println(gateway.CheckConsent(r, chain, nil, now))

	// A Part 2 consent that lapsed does not count either.
	lapsed := gateway.ConsentRecord{
		ID: "p2-1", Tenant: "org-alpha", PatientID: "pat-001", Kind: gateway.ConsentPart2,
		Signed:  time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC),
		Expires: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
	}
	fmt.Println(gateway.CheckConsent(r, chain, []gateway.ConsentRecord{lapsed}, now))

	// A current one satisfies the gate.
	current := lapsed
	current.Expires = time.Date(2027, 10, 1, 0, 0, 0, 0, time.UTC)
	fmt.Println(gateway.CheckConsent(r, chain, []gateway.ConsentRecord{current}, now))
	// Output:
	// <nil>
	// consent basis treatment not satisfied: Part 2 consent not on file
	// consent basis treatment not satisfied: Part 2 consent expired 2026-10-01
	// <nil>
}
