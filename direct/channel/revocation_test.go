package channel_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

// TestRecipientRevocation (issue case 1): before encrypting PHI for a
// recipient, the channel checks the recipient certificate against the CRL
// its OpenSSL CA publishes over HTTP. A revoked certificate is never sent
// to (a permanent failure, so the core falls back); a CRL that cannot be
// fetched is a temporary failure; a good certificate is sent to.
func TestRecipientRevocation(t *testing.T) {
	crlURL, setCRL := crlServer(t)
	p := osslca.New(t, crlURL+"/ca.crl")
	good := p.Issue(t, "good", theirAddr, "rsa:2048")
	revoked := p.Issue(t, "revoked", theirAddr, "rsa:2048")
	p.Revoke(t, "revoked")
	anchor, err := certs.DecodeCertsPEM(p.CACert(t))
	if err != nil {
		t.Fatal(err)
	}
	f := getFixture(t)
	trust, err := certs.NewTrustStore(f.ca.Cert, anchor[0])
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	now := time.Now()
	ch, err := channel.New(channel.Config{Domain: ourDomain, Keys: f.keys, Trust: trust, Transport: rec,
		Now: func() time.Time { return now }, CRLs: &smime.HTTPCRLFetcher{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(id *certs.Identity) error {
		out := outbound(false)
		out.Receiver = entry(theirAddr, id)
		_, err := ch.Send(t.Context(), out)
		return err
	}

	// The CRL server is down: no verdict, so no send, and a retry later.
	if err := send(good); err == nil || gateway.IsPermanent(err) || !errors.Is(err, smime.ErrRevocationUnknown) {
		t.Fatalf("CRL down: %v (permanent %v)", err, gateway.IsPermanent(err))
	}
	setCRL(p.CRL(t, false))
	err = send(revoked)
	if err == nil || !gateway.IsPermanent(err) || !errors.Is(err, channel.ErrRecipientRevoked) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked recipient: %v", err)
	}
	if len(rec.sent) != 0 {
		t.Fatalf("%d messages handed over before a good certificate", len(rec.sent))
	}
	if err := send(good); err != nil {
		t.Fatalf("good recipient: %v", err)
	}
	if len(rec.sent) != 1 {
		t.Fatalf("sent %d, want 1", len(rec.sent))
	}
}
