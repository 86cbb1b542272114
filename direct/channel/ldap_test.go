package channel_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/dirtest"
	"github.com/referralgw/gateway/direct/internal/osslca"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

const (
	lDom   = "direct.ortho-l.example"  // partner whose CA is our anchor
	aiaDom = "direct.derm-aia.example" // partner whose CA is an intermediate we lack
)

// discoveryWorld is a partner HISP reached only through discovery: a DNS
// server (no CERT records but one expired, SRV records for LDAP), a slapd
// holding the certificates, an OpenSSL PKI with a CRL and an AIA link
// served over HTTP.
type discoveryWorld struct {
	trust    *certs.TrustStore
	dns      string
	ldapPort uint16
	aiaHits  func() int
	aiaDER   []byte // the intermediate served through AIA
}

func newDiscoveryWorld(t *testing.T) *discoveryWorld {
	t.Helper()
	w := &discoveryWorld{}
	var (
		mu   sync.Mutex
		crl  []byte
		p7c  []byte
		hits int
	)
	web := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/root.crl":
			_, _ = rw.Write(crl)
		case "/inter.p7c":
			hits++
			rw.Header().Set("Content-Type", "application/pkcs7-mime")
			_, _ = rw.Write(p7c)
		default:
			http.NotFound(rw, r)
		}
	}))
	t.Cleanup(web.Close)
	w.aiaHits = func() int { mu.Lock(); defer mu.Unlock(); return hits }

	root := osslca.New(t, web.URL+"/root.crl")
	der := func(name string, l osslca.Leaf) []byte { return root.IssueLeaf(t, name, l) }
	addrGood := der("addr-good", osslca.Leaf{Email: "pref@" + lDom})
	domGood := der("dom-good", osslca.Leaf{DNS: lDom})
	expired := der("expired", osslca.Leaf{Email: "exp@" + lDom, Start: "20240101000000Z", End: "20250101000000Z"})
	dnsExpired := der("dns-expired", osslca.Leaf{Email: "dnsexp@" + lDom, Start: "20240101000000Z", End: "20250101000000Z"})
	revoked := der("revoked", osslca.Leaf{Email: "rev@" + lDom})
	root.Revoke(t, "revoked")
	mu.Lock()
	crl = root.CRL(t, false)
	mu.Unlock()

	// An intermediate the trust bundle lacks; its leaves link to it by AIA.
	inter := root.NewIntermediate(t, "OpenSSL Test Intermediate CA", "")
	inter.AIA = web.URL + "/inter.p7c"
	aiaLeaf := inter.IssueLeaf(t, "aia", osslca.Leaf{Email: "aia@" + aiaDom})
	w.aiaDER = inter.Run(t, "x509", "-in", inter.Path("ca.pem"), "-outform", "DER")
	mu.Lock()
	p7c = inter.Run(t, "crl2pkcs7", "-nocrl", "-certfile", inter.Path("ca.pem"), "-outform", "DER")
	mu.Unlock()
	dead := root.NewIntermediate(t, "OpenSSL Unreachable Intermediate CA", "")
	dead.AIA = "http://127.0.0.1:" + strconv.Itoa(int(dirtest.ClosedPort(t))) + "/dead.cer"
	deadLeaf := dead.IssueLeaf(t, "dead", osslca.Leaf{Email: "aiadown@" + aiaDom})

	slapd := dirtest.StartSlapd(t, "dc=partners,dc=example", []dirtest.Entry{
		{CN: "pref", Mail: "pref@" + lDom, Certs: [][]byte{addrGood}},
		{CN: "hisp", Mail: lDom, Certs: [][]byte{domGood}},
		{CN: "exp", Mail: "exp@" + lDom, Certs: [][]byte{expired}},
		{CN: "rev", Mail: "rev@" + lDom, Certs: [][]byte{revoked}},
		{CN: "aia", Mail: "aia@" + aiaDom, Certs: [][]byte{aiaLeaf}},
		{CN: "aiadown", Mail: "aiadown@" + aiaDom, Certs: [][]byte{deadLeaf}},
	})
	w.ldapPort = slapd.Port
	zone := map[string][]dns.RR{
		"dnsexp." + lDom + ".": {dirtest.CERT("dnsexp."+lDom+".", dns.CertPKIX, dnsExpired)},
		"ldap." + lDom + ".":   {dirtest.A("ldap."+lDom+".", "127.0.0.1")},
	}
	for _, d := range []string{lDom, aiaDom} {
		zone["_ldap._tcp."+d+"."] = []dns.RR{dirtest.SRV("_ldap._tcp."+d+".", 0, 0, slapd.Port, "ldap."+lDom)}
	}
	w.dns = dirtest.StartDNS(t, zone, false).Addr
	anchor, err := certs.DecodeCertsPEM(root.CACert(t))
	if err != nil {
		t.Fatal(err)
	}
	if w.trust, err = certs.NewTrustStore(anchor...); err != nil {
		t.Fatal(err)
	}
	return w
}

// channel builds a channel discovering through DNS CERT then LDAP, as
// `serve` does, with AIA fetches allowed to loopback.
func (w *discoveryWorld) channel(t *testing.T) (*channel.Channel, *recorder) {
	t.Helper()
	f := getFixture(t)
	resolver := &certs.Discoverer{Server: w.dns, Timeout: 2 * time.Second}
	ldap := &certs.LDAPDiscoverer{DNS: resolver, ConnectTimeout: time.Second, Timeout: 2 * time.Second}
	rec := &recorder{}
	ch, err := channel.New(channel.Config{Domain: ourDomain, Keys: f.keys, Trust: w.trust, Transport: rec,
		Sources:              []channel.Source{{Name: "DNS CERT", Find: resolver.Find}, {Name: "LDAP", Find: ldap.Find}},
		AllowPrivateNetworks: true, CRLs: &smime.HTTPCRLFetcher{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return ch, rec
}

// sendTo sends a referral to addr through ch, failing the test when the
// send fails or hands over anything but one message.
func sendTo(t *testing.T, ch *channel.Channel, rec *recorder, addr string) {
	t.Helper()
	out := outbound(false)
	out.Receiver = &gateway.Entry{ID: "partner", Kind: gateway.KindOrganization, Name: "Synthetic Partner",
		Direct: &gateway.DirectEndpoint{Address: addr}}
	before := len(rec.sent)
	if _, err := ch.Send(t.Context(), out); err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	if len(rec.sent) != before+1 {
		t.Fatalf("send to %s handed over %d messages", addr, len(rec.sent)-before)
	}
}

// TestLDAPDiscoveryChoice: DNS CERT has nothing usable, so the partner's
// LDAP directory is asked; the address-bound certificate is preferred to
// the domain-bound one, and an expired or revoked address-bound one is
// passed over for the domain-bound one. The same world then serves
// testAIAChain (one PKI and one slapd: OpenSSL key generation is the slow part).
func TestLDAPDiscoveryChoice(t *testing.T) {
	w := newDiscoveryWorld(t)
	t.Run("AIA chain", func(t *testing.T) { testAIAChain(t, w) })
	ch, rec := w.channel(t)
	cases := []struct {
		addr, wantCN, wantRefused string
	}{
		{"pref@" + lDom, "pref@" + lDom, ""},
		{"exp@" + lDom, lDom, "not valid at"},
		{"rev@" + lDom, lDom, "revoked"},
		{"dnsexp@" + lDom, lDom, "not valid at"}, // the DNS CERT one is expired
		{"nobody@" + lDom, lDom, ""},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			d := ch.Discover(t.Context(), tc.addr)
			if d.Chosen == nil {
				t.Fatalf("nothing chosen: %+v", d.Sources)
			}
			if d.Chosen.Cert.Subject.CommonName != tc.wantCN {
				t.Fatalf("chose %q from %s, want %q", d.Chosen.Cert.Subject.CommonName, d.Chosen.Origin, tc.wantCN)
			}
			if !strings.HasPrefix(d.Chosen.Origin, "LDAP ldap."+lDom+":") {
				t.Fatalf("origin %q, want the LDAP server", d.Chosen.Origin)
			}
			var refused []string
			for _, s := range d.Sources {
				for _, c := range s.Candidates {
					if c.Err != nil {
						refused = append(refused, c.Err.Error())
					}
				}
			}
			if tc.wantRefused != "" && (len(refused) != 1 || !strings.Contains(refused[0], tc.wantRefused)) {
				t.Fatalf("refused %q, want one refusal saying %q", refused, tc.wantRefused)
			}
			// Routing answers from the cache inside a transaction.
			e := &gateway.Entry{ID: "p", Direct: &gateway.DirectEndpoint{Address: tc.addr}}
			if err := ch.Reachable(t.Context(), e); err != nil {
				t.Fatalf("reachable: %v", err)
			}
			// Sending checks the chosen certificate's CRL (good) and seals.
			sendTo(t, ch, rec, tc.addr)
		})
	}
	// An address in a domain with no SRV record and no CERT record.
	e := &gateway.Entry{ID: "q", Direct: &gateway.DirectEndpoint{Address: "intake@direct.nowhere.example"}}
	if err := ch.Resolve(t.Context(), e); err == nil {
		t.Fatal("resolve of an undiscoverable address succeeded")
	}
	err := ch.Reachable(t.Context(), e)
	if err == nil || !errors.Is(err, channel.ErrNoCertificate) || !strings.Contains(err.Error(), "no SRV record") {
		t.Fatalf("undiscoverable: %v", err)
	}
}

// testAIAChain: a partner certificate issued by an intermediate the trust
// bundle lacks is accepted once the intermediate, fetched from the
// certificate's caIssuers URL (a PKCS #7 bundle over HTTP), chains it to
// our anchor; an unreachable caIssuers URL is a refusal naming it.
func testAIAChain(t *testing.T, w *discoveryWorld) {
	ch, rec := w.channel(t)
	d := ch.Discover(t.Context(), "aia@"+aiaDom)
	if d.Chosen == nil {
		t.Fatalf("nothing chosen: %+v", d.Sources)
	}
	if len(d.Chosen.ViaAIA) != 1 || string(d.Chosen.ViaAIA[0].Raw) != string(w.aiaDER) || len(d.Chosen.Chain) != 3 {
		t.Fatalf("chain of %d, %d via AIA; want leaf, the fetched intermediate, anchor", len(d.Chosen.Chain), len(d.Chosen.ViaAIA))
	}
	e := &gateway.Entry{ID: "p", Direct: &gateway.DirectEndpoint{Address: "aia@" + aiaDom}}
	if err := ch.Reachable(t.Context(), e); err != nil {
		t.Fatalf("reachable: %v", err)
	}
	if _, err := ch.RecipientCert(t.Context(), e); err != nil {
		t.Fatalf("recipient: %v", err)
	}
	sendTo(t, ch, rec, "aia@"+aiaDom)
	if n := w.aiaHits(); n != 1 {
		t.Fatalf("caIssuers fetched %d times, want once (cached)", n)
	}

	d = ch.Discover(t.Context(), "aiadown@"+aiaDom)
	if d.Chosen != nil {
		t.Fatalf("chose %q with an unreachable caIssuers URL", d.Chosen.Cert.Subject.CommonName)
	}
	err := ch.Reachable(t.Context(), &gateway.Entry{ID: "q", Direct: &gateway.DirectEndpoint{Address: "aiadown@" + aiaDom}})
	if err == nil || !strings.Contains(err.Error(), "caIssuers http://127.0.0.1:") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("unreachable AIA: %v", err)
	}
}
