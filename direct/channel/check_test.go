package channel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// TestReverificationMarksRevokedCertificate runs directory
// re-verification as the queue's periodic job against an OpenSSL CA whose
// CRL (served over HTTP) lists the party's directory certificate: the
// entry's Direct check is recorded as failed with the reason, audited,
// and routing then refuses Direct for it, saying why. A good certificate
// from the same CA passes.
func TestReverificationMarksRevokedCertificate(t *testing.T) {
	crlURL, setCRL := crlServer(t)
	p := osslca.New(t, crlURL+"/ca.crl")
	good := p.Issue(t, "good", "intake@"+theirDom, "rsa:2048")
	revoked := p.Issue(t, "revoked", "revoked@"+theirDom, "rsa:2048")
	p.Revoke(t, "revoked")
	setCRL(p.CRL(t, false))
	anchor, err := certs.DecodeCertsPEM(p.CACert(t))
	if err != nil {
		t.Fatal(err)
	}
	f := getFixture(t)
	trust, err := certs.NewTrustStore(f.ca.Cert, anchor[0])
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channel.New(channel.Config{Domain: ourDomain, Keys: f.keys, Trust: trust, Transport: &recorder{},
		CRLs: &smime.HTTPCRLFetcher{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	svc, store := coreOver(t, ch, sqlstore.QueueConfig{MaxWorkers: 2,
		FetchPollInterval: 20 * time.Millisecond, MaxAttempts: 3, RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		JobTimeout: 30 * time.Second, RescueAfter: time.Minute})
	ctx, admin := t.Context(), gateway.Actor{ID: "user:admin"}
	direct := []gateway.ChannelKind{gateway.ChannelDirect}
	for _, e := range []*gateway.Entry{
		{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic"},
		{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology", ChannelOrder: direct,
			Direct: &gateway.DirectEndpoint{Address: "revoked@" + theirDom, CertPEM: string(certs.EncodeCertPEM(revoked.Cert))}},
		{ID: "ortho-c", Kind: gateway.KindOrganization, Name: "Synthetic Orthopedics", ChannelOrder: direct,
			Direct: &gateway.DirectEndpoint{Address: "intake@" + theirDom, CertPEM: string(certs.EncodeCertPEM(good.Cert))}},
	} {
		if _, err := svc.PutEntry(ctx, admin, e); err != nil {
			t.Fatal(err)
		}
		if e.Direct != nil {
			if _, err := svc.VerifyEntry(ctx, admin, e.ID, "phone call"); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.SetBAA(ctx, admin, gateway.BAAChange{PartyID: e.ID, State: gateway.BAAActive, End: time.Now().AddDate(1, 0, 0)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := svc.Every(gateway.JobVerifyDirectory, time.Hour); err != nil { // the first round runs as the leader starts
		t.Fatal(err)
	}
	if err := store.StartWorkers(ctx, svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = store.StopWorkers(sctx)
	})
	checked := func(id string) *gateway.ChannelCheck {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			e, err := svc.Entry(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if c := e.Check(gateway.ChannelDirect); c != nil {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was never checked", id)
			}
			time.Sleep(20 * time.Millisecond) // polling interval, not a wait for work
		}
	}
	bad := checked("cardio-b")
	if bad.Status != gateway.CheckFailed || !strings.Contains(bad.Reason, "revoked") {
		t.Fatalf("revoked certificate's check = %+v, want failed and revoked", bad)
	}
	if ok := checked("ortho-c"); ok.Status != gateway.CheckOK {
		t.Fatalf("good certificate's check = %+v, want ok", ok)
	}
	e, err := svc.Entry(ctx, "cardio-b")
	if err != nil {
		t.Fatal(err)
	}
	if e.Version != 2 || e.Verification == nil {
		t.Errorf("entry v%d, verification %+v: a check must not change the entry's version or the admin's verification", e.Version, e.Verification)
	}

	create := func(to string) error {
		_, err := svc.CreateReferral(ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, gateway.NewReferral{
			Requester: gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary"}, ReceiverID: to,
			Patient: gateway.Patient{ID: "MRN-0001", FamilyName: "Testpatient"},
			Reason:  gateway.Coding{System: "http://snomed.info/sct", Code: "49436004"},
			Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment}, Submit: true})
		return err
	}
	var re *gateway.RoutingError
	if err := create("cardio-b"); !errors.As(err, &re) || !strings.Contains(err.Error(), "failed the gateway's check") || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("referral to the revoked party: %v, want a routing refusal naming the failed check", err)
	}
	if err := create("ortho-c"); err != nil {
		t.Fatalf("referral to the party whose check passed: %v", err)
	}

	// The change of status is in the party's trail.
	found := false
	for en, err := range store.AuditEntries(gateway.GatewayWide(ctx, gateway.PathAudit), gateway.AuditQuery{Tenant: "cardio-b"}) {
		if err != nil {
			t.Fatal(err)
		}
		if en.Action == "directory.checked" && en.Detail["status"] == "failed" && en.Detail["channel"] == "direct" {
			found = true
		}
	}
	if !found {
		t.Error("no directory.checked audit event for the failed check")
	}
}
