package inbound_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

// TestRevocationOutage (issue case 7): a signer whose CRL cannot be fetched
// is not a verdict. Past the retry window the configured policy decides:
// refuse quarantines with revocation-unknown; an operator's release then
// accepts it, audited; policy accept lets the next one through, flagged and
// audited.
func TestRevocationOutage(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	down := smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) {
		return nil, errors.New("connection refused")
	})
	configure := func(policy inbound.RevocationPolicy) {
		t.Helper()
		if _, err := inbound.New(inbound.Config{Service: b.svc, Channel: b.ch, CRLs: down,
			RevocationRetryFor: time.Hour, RevocationPolicy: policy}); err != nil {
			t.Fatal(err)
		}
	}
	configure(inbound.RevocationRefuse)
	// B's clock is past the retry window of anything received now.
	b.clock.Advance(2 * time.Hour)
	send := func(subject string) {
		t.Helper()
		sendSealed(t, a, addrA, b.identity.Cert, addrB, compose(t, message.Outbound{From: addrA, To: []string{addrB},
			Subject: subject, MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral."}))
	}
	send("Referral [ref:r1]")
	b.processUntil(t, "refused by policy", func() bool { return len(b.inbox(t, gateway.InboundQuarantined)) == 1 })
	q := b.inbox(t, gateway.InboundQuarantined)[0]
	if q.Reason != string(inbound.ReasonRevocationUnknown) {
		t.Fatalf("quarantined for %q: %s", q.Reason, q.Error)
	}
	if _, err := b.svc.ReleaseInbound(t.Context(), gateway.Actor{ID: "user:op", OrgID: "cardio-b"}, q.ID, "CA confirmed the certificate by phone"); err != nil {
		t.Fatal(err)
	}
	b.processUntil(t, "released and accepted", func() bool {
		m, err := b.svc.Inbound(t.Context(), q.ID)
		return err == nil && m.State == gateway.InboundNew
	})
	if e := hasAction(b.actions(t, "cardio-b"), "direct.revocation-unknown-accepted"); e == nil || e.Detail["by"] != "operator release: CA confirmed the certificate by phone" {
		t.Fatalf("release audit: %+v", e)
	}

	configure(inbound.RevocationAccept)
	send("Referral [ref:r2]")
	b.processUntil(t, "accepted by policy", func() bool { return len(b.inbox(t, gateway.InboundNew)) == 2 })
	if n := countAction(b.actions(t, "cardio-b"), "direct.revocation-unknown-accepted"); n != 2 {
		t.Fatalf("%d acceptances audited, want 2", n)
	}
}
