package main

import (
	"context"
	"fmt"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// demoAdmin is the practice administrator who seeds the directories.
var demoAdmin = gateway.Actor{ID: "user:demo-admin"}

// demoReferrer is the referring provider at practice A.
var demoReferrer = gateway.Actor{ID: "user:dr-referrer", OrgID: "clinic-a"}

// seed fills A's directory with the parties of the network and B's with
// itself. Every party but the lapsed one has an active BAA and verified
// contact details.
func (ln *loopNet) seed(ctx context.Context) error {
	a, b := ln.a.app.svc, ln.b.app.svc
	now := time.Now().UTC()
	ehr := &gateway.FHIREndpoint{BaseURL: ln.ehr.url + "/fhir", TokenURL: ln.ehr.tokens.TokenURL(), ClientID: demoEHRClient}
	type party struct {
		e      *gateway.Entry
		baaEnd time.Time // zero: no BAA (the referrer itself)
		start  time.Time
	}
	year := now.AddDate(1, 0, 0)
	parties := []party{
		{e: &gateway.Entry{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Practice A", NPI: "1234567893",
			Direct: &gateway.DirectEndpoint{Address: demoAddrA}}},
		{e: &gateway.Entry{ID: "ortho-ehr", Kind: gateway.KindOrganization, Name: "Synthetic Orthopedics (on-platform EHR)",
			OnPlatform: true, FHIR: ehr}, baaEnd: year},
		{e: &gateway.Entry{ID: "bh-direct", Kind: gateway.KindOrganization, Name: "Synthetic Behavioral Health B (Direct only, Part 2 program)",
			Direct: &gateway.DirectEndpoint{Address: demoAddrB, CertPEM: ln.certBPEM}}, baaEnd: year},
		{e: &gateway.Entry{ID: "fax-clinic", Kind: gateway.KindOrganization, Name: "Synthetic Rural Clinic (fax only)",
			Fax: &gateway.FaxEndpoint{Number: demoFaxNumber}, ChannelOrder: []gateway.ChannelKind{gateway.ChannelFax}}, baaEnd: year},
		{e: &gateway.Entry{ID: "lapsed-cardio", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology (BAA expired)",
			OnPlatform: true, FHIR: ehr}, baaEnd: now.AddDate(0, 0, -3), start: now.AddDate(-2, 0, 0)},
		{e: &gateway.Entry{ID: "faxvendor", Kind: gateway.KindVendor, Name: "Fax vendor (EMULATOR)", VendorRole: "fax"}, baaEnd: year},
	}
	for _, p := range parties {
		if _, err := a.PutEntry(ctx, demoAdmin, p.e); err != nil {
			return fmt.Errorf("seed A: %s: %w", p.e.ID, err)
		}
		if p.baaEnd.IsZero() {
			continue
		}
		if _, err := a.VerifyEntry(ctx, demoAdmin, p.e.ID, "phone call to the front desk (demo)"); err != nil {
			return fmt.Errorf("seed A: verify %s: %w", p.e.ID, err)
		}
		if p.baaEnd.Before(now) {
			if err := backdateBAA(ctx, a, p.e.ID, p.start, p.baaEnd); err != nil {
				return fmt.Errorf("seed A: BAA %s: %w", p.e.ID, err)
			}
			continue
		}
		if _, err := a.SetBAA(ctx, demoAdmin, gateway.BAAChange{PartyID: p.e.ID, State: gateway.BAAActive, Start: now.AddDate(0, -1, 0),
			End: p.baaEnd, Document: "baa/" + p.e.ID + ".pdf"}); err != nil {
			return fmt.Errorf("seed A: BAA %s: %w", p.e.ID, err)
		}
	}
	if _, err := b.PutEntry(ctx, demoAdmin, &gateway.Entry{ID: "bh-direct", Kind: gateway.KindOrganization,
		Name: "Synthetic Behavioral Health B", Direct: &gateway.DirectEndpoint{Address: demoAddrB}}); err != nil {
		return fmt.Errorf("seed B: %w", err)
	}
	return nil
}

// demoReferral is a synthetic treatment referral from clinic-a; every
// patient is made up.
func demoReferral(n int, receiver string) gateway.NewReferral {
	return gateway.NewReferral{
		Requester:  gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Referrer", NPI: "1234567893", Phone: "+15555550100"},
		ReceiverID: receiver,
		Patient: gateway.Patient{ID: fmt.Sprintf("MRN-DEMO-%04d", n), System: "urn:demo:mrn", FamilyName: "Testpatient",
			GivenName: fmt.Sprintf("Demo%d", n), BirthDate: "1980-01-01", Gender: "unknown"},
		Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "225358003", Display: "Referral for evaluation"},
		ReasonText: "Synthetic referral for the loopback demo; please evaluate.",
		Priority:   gateway.PriorityRoutine,
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Records: []gateway.NewRecord{{Title: "Visit summary", ContentType: "text/plain",
			Content: []byte("Synthetic visit summary for the loopback demo. No real patient data.")}},
		Submit: true,
	}
}

// backdateBAA records an agreement that was signed in the past and has
// already run out, as an import from a previous system would: SetBAA only
// accepts new active agreements with a future end date, so the demo
// imports it (Service.ImportBAA, audited as baa.imported).
func backdateBAA(ctx context.Context, svc *gateway.Service, partyID string, start, end time.Time) error {
	_, err := svc.ImportBAA(ctx, demoAdmin, gateway.BAA{PartyID: partyID, State: gateway.BAAActive, Start: start, End: end,
		Document: "baa/" + partyID + ".pdf"})
	return err
}
