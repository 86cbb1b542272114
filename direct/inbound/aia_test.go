package inbound_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

// TestSignerChainViaAIA: A signs with a certificate from an OpenSSL
// intermediate that B's trust bundle lacks and the signature does not
// carry; B fetches the intermediate from the certificate's caIssuers URL
// (real HTTP), finds it chains to an anchor of B's, and accepts the
// message. A signer whose caIssuers URL is unreachable is quarantined as
// untrusted, the reason naming the URL.
func TestSignerChainViaAIA(t *testing.T) {
	a, b := pair(t)
	seedB(t, b)
	var interDER []byte
	var hits atomic.Int32
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/inter.cer" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		_, _ = w.Write(interDER)
	}))
	defer web.Close()
	root := osslca.New(t, "")
	inter := root.NewIntermediate(t, "OpenSSL Signer Intermediate", "")
	interDER = inter.Run(t, "x509", "-in", inter.Path("ca.pem"), "-outform", "DER")
	inter.AIA = web.URL + "/inter.cer"
	signer := inter.Issue(t, "signer", addrA, "rsa:2048")
	inter.AIA = web.URL + "/gone.cer"
	orphan := inter.Issue(t, "orphan", addrA, "rsa:2048")
	anchor, err := certs.DecodeCertsPEM(root.CACert(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := b.ch.Config()
	if err := cfg.Trust.Replace(anchor); err != nil { // B trusts the root, not the intermediate
		t.Fatal(err)
	}
	cfg.AIA.Client = web.Client()    // the test server is on loopback, which the outbound guard refuses
	b.clock.Advance(5 * time.Minute) // past the OpenSSL certificates' notBefore (issued after B's clock was set)

	for _, id := range []*certs.Identity{signer, orphan} {
		plain := compose(t, message.Outbound{From: addrA, To: []string{addrB}, Subject: "Referral [ref:aia-" + id.Cert.SerialNumber.String() + "]",
			MessageID: message.NewMessageID(domainA), Date: a.clock.Now(), SummaryText: "Synthetic referral text."})
		signed, err := smime.Sign(plain, id.Cert, id.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		sendRaw(t, a, addrA, addrB, envelope(t, plain, signed, b.identity.Cert))
	}
	eventuallyOr(t, "one accepted, one quarantined", func() bool {
		return len(b.inbox(t, gateway.InboundNew))+len(b.inbox(t, gateway.InboundMatched))+len(b.inbox(t, gateway.InboundUnmatched)) == 1 &&
			len(b.inbox(t, gateway.InboundQuarantined)) == 1
	}, func() {
		for _, it := range b.inbox(t, "") {
			t.Logf("%s %s %s", it.State, it.Reason, it.Error)
		}
	})
	q := b.inbox(t, gateway.InboundQuarantined)[0]
	if q.Reason != string(inbound.ReasonUntrustedAnchor) || !strings.Contains(q.Error, web.URL+"/gone.cer") {
		t.Fatalf("quarantined for %q: %s", q.Reason, q.Error)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("intermediate fetched %d times, want 1", n)
	}
}
