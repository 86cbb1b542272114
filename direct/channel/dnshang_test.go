package channel_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/dirtest"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// hangingDNS is a real UDP listener that reads queries and never answers.
// Each query received is signalled on got.
func hangingDNS(t *testing.T) (addr string, got <-chan struct{}) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	ch := make(chan struct{}, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return pc.LocalAddr().String(), ch
}

// TestHangingDNSHoldsNoTransaction routes a referral to a Direct party
// whose certificate must be discovered in DNS, against a DNS server that
// never answers. The embedded store has one connection, so a lookup made
// inside the routing transaction would hold every other transaction
// behind it. While the lookup hangs, another write must complete.
func TestHangingDNSHoldsNoTransaction(t *testing.T) {
	f := getFixture(t)
	dnsAddr, queried := hangingDNS(t)
	disc := &certs.Discoverer{Server: dnsAddr, Timeout: 10 * time.Minute} // hangs for the whole test
	holdsNoTransaction(t, channel.Config{Domain: ourDomain, Keys: f.keys, Trust: f.trust, Transport: &recorder{},
		Discover: disc.Discover, Now: func() time.Time { return f.now }}, nil, queried)
}

// TestHangingLDAPHoldsNoTransaction is the same with DNS answering and the
// LDAP server its SRV record names accepting the connection and never
// answering.
func TestHangingLDAPHoldsNoTransaction(t *testing.T) {
	f := getFixture(t)
	port, accepted := dirtest.SilentListener(t)
	srv, host := "_ldap._tcp."+theirDom+".", "ldap."+theirDom+"."
	zone := dirtest.StartDNS(t, map[string][]dns.RR{srv: {dirtest.SRV(srv, 0, 0, port, host)}, host: {dirtest.A(host, "127.0.0.1")}}, false)
	resolver := &certs.Discoverer{Server: zone.Addr, Timeout: 5 * time.Second}
	ldap := &certs.LDAPDiscoverer{DNS: resolver, Timeout: 10 * time.Minute} // hangs for the whole test
	holdsNoTransaction(t, channel.Config{Domain: ourDomain, Keys: f.keys, Trust: f.trust, Transport: &recorder{},
		Sources: []channel.Source{{Name: "DNS CERT", Find: resolver.Find}, {Name: "LDAP", Find: ldap.Find}},
		Now:     func() time.Time { return f.now }}, nil, accepted)
}

// TestHangingAIAHoldsNoTransaction is the same for a certificate pinned in
// the directory whose intermediate must be fetched from a caIssuers URL
// that accepts the connection and never answers.
func TestHangingAIAHoldsNoTransaction(t *testing.T) {
	f := getFixture(t)
	port, accepted := dirtest.SilentListener(t)
	inter, err := f.ca.NewIntermediate("Synthetic Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	inter.IssuerURL = "http://127.0.0.1:" + strconv.Itoa(int(port)) + "/issuing.cer"
	leaf, err := inter.IssueDomain(theirDom)
	if err != nil {
		t.Fatal(err)
	}
	aia := &certs.AIAFetcher{Client: &http.Client{}, Timeout: 10 * time.Minute} // hangs for the whole test
	holdsNoTransaction(t, channel.Config{Domain: ourDomain, Keys: f.keys, Trust: f.trust, Transport: &recorder{},
		AIA: aia, SkipRevocation: true, Now: func() time.Time { return f.now }}, leaf, accepted)
}

// holdsNoTransaction creates a referral to a party reached through ch
// (pinned: its directory certificate, else discovered) while the lookup
// hangs (queried is signalled when it starts), and checks that another
// write completes meanwhile and nothing of the create is written once it
// is cancelled.
func holdsNoTransaction(t *testing.T, cfg channel.Config, pinned *certs.Identity, queried <-chan struct{}) {
	t.Helper()
	ch, err := channel.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := coreOver(t, ch, sqlstore.DefaultQueueConfig())
	ctx, admin := t.Context(), gateway.Actor{ID: "user:admin"}
	receiver := &gateway.Entry{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology",
		Direct: &gateway.DirectEndpoint{Address: theirAddr}, ChannelOrder: []gateway.ChannelKind{gateway.ChannelDirect}}
	if pinned != nil {
		receiver.Direct.CertPEM = string(certs.EncodeCertPEM(pinned.Cert))
	}
	for _, e := range []*gateway.Entry{{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic"}, receiver} {
		if _, err := svc.PutEntry(ctx, admin, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.VerifyEntry(ctx, admin, "cardio-b", "phone call"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetBAA(ctx, admin, gateway.BAAChange{PartyID: "cardio-b", State: gateway.BAAActive, End: time.Now().AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}

	createCtx, cancelCreate := context.WithCancel(ctx)
	defer cancelCreate()
	created := make(chan error, 1)
	go func() {
		_, err := svc.CreateReferral(createCtx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, gateway.NewReferral{
			Requester: gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary"}, ReceiverID: "cardio-b",
			Patient: gateway.Patient{ID: "MRN-0001", FamilyName: "Testpatient"},
			Reason:  gateway.Coding{System: "http://snomed.info/sct", Code: "49436004"},
			Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment}, Submit: true})
		created <- err
	}()
	select {
	case <-queried:
	case err := <-created:
		t.Fatalf("create returned before the lookup: %v", err)
	}

	// The lookup is hanging now. Another transaction on the single
	// connection completes, and the create is still waiting on DNS.
	// (The deadline only keeps a regression from hanging the test for
	// the lookup's ten minutes; it measures nothing.)
	wctx, cancelWrite := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWrite()
	if _, err := svc.PutEntry(wctx, admin, &gateway.Entry{ID: "ortho-c", Kind: gateway.KindOrganization, Name: "Synthetic Orthopedics"}); err != nil {
		t.Fatalf("write while DNS hangs waited on the lookup: %v", err)
	}
	select {
	case err := <-created:
		t.Fatalf("create finished before the other write (%v): the DNS lookup did not hang", err)
	default:
	}
	cancelCreate()
	if err := <-created; !errors.Is(err, context.Canceled) {
		t.Fatalf("create after cancelling the hanging lookup: %v", err)
	}
	// Nothing of the cancelled create was written.
	list, err := svc.ListReferrals(ctx, gateway.ReferralQuery{})
	if err != nil || len(list) != 0 {
		t.Fatalf("referrals after the cancelled create: %d %v", len(list), err)
	}
}
