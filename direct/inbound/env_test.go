package inbound_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/direct/smtpin"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/storetest"
)

// Synthetic parties. Clinic A refers to Cardiology B; each runs its own
// gateway with its own Direct domain and CA, and each trusts both CAs.
const (
	domainA = "direct.clinic-a.example"
	domainB = "direct.cardio-b.example"
	addrA   = "referrals@" + domainA
	addrB   = "intake@" + domainB
)

var admin = gateway.Actor{ID: "user:admin"}

// node is one gateway instance: store, core, Direct channel, SMTP server
// with its spool, and the inbound processor.
type node struct {
	domain   string
	clock    *storetest.ManualClock
	ca       *certs.CA
	identity *certs.Identity
	keys     *certs.Keyring
	store    gateway.Store
	svc      *gateway.Service
	ch       *channel.Channel
	listener net.Listener
	proc     *inbound.Processor
	fax      *storetest.RecordingChannel
	gate     *gatedTransport
	revoked  []*x509.Certificate // listed on the CA's CRL
	dbPath   string
	pgURL    string // set on PostgreSQL (see onPostgres): the node's schema
	key      []byte
	fetch    smime.CRLFetcher
	discover channel.DiscoverFunc // certificate discovery, when a test sets it
}

// gatedTransport holds sends while a test keeps its gate closed.
type gatedTransport struct {
	next channel.Transport
	hold atomic.Pointer[chan struct{}]
}

func (g *gatedTransport) Send(ctx context.Context, from string, to []string, msg []byte) (smtpout.Result, error) {
	if h := g.hold.Load(); h != nil {
		select {
		case <-*h:
		case <-ctx.Done():
			return smtpout.Result{}, ctx.Err()
		}
	}
	return g.next.Send(ctx, from, to, msg)
}

// crls serves the CRL of whichever node's CA publishes url.
func crls(nodes ...*node) smime.CRLFetcher {
	return smime.CRLFetcherFunc(func(_ context.Context, url string) (*x509.RevocationList, error) {
		for _, n := range nodes {
			if n.ca.CRLURL == url {
				der, err := n.ca.CRL(n.revoked...)
				if err != nil {
					return nil, err
				}
				return x509.ParseRevocationList(der)
			}
		}
		return nil, fmt.Errorf("no CRL at %s", url)
	})
}

// pair builds A and B, wired to each other over real TCP with STARTTLS.
func pair(t *testing.T) (a, b *node) {
	t.Helper()
	return pairWith(t, nil)
}

// pairWith is pair with a hook that adjusts both nodes before they are
// wired (their CAs and identities exist by then).
func pairWith(t *testing.T, setup func(a, b *node)) (a, b *node) {
	t.Helper()
	now := time.Now().UTC()
	a, b = newNode(t, domainA, now), newNode(t, domainB, now)
	if setup != nil {
		setup(a, b)
	}
	trust, err := certs.NewTrustStore(a.ca.Cert, b.ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, roots := selfSigned(t)
	fetch := crls(a, b)
	a.wire(t, trust, b.listener.Addr().String(), roots, fetch)
	b.wire(t, trust, a.listener.Addr().String(), roots, fetch)
	for _, n := range []*node{a, b} {
		n.startSMTP(t, serverTLS)
	}
	return a, b
}

func newNode(t *testing.T, domain string, now time.Time) *node {
	t.Helper()
	n := &node{domain: domain, clock: storetest.NewManualClock(now), keys: certs.NewKeyring()}
	var err error
	if n.ca, err = certs.NewDevCA(domain, now); err != nil {
		t.Fatal(err)
	}
	n.ca.CRLURL = "http://crl." + domain + "/ca.crl" // served by crls, never fetched over the network
	if n.identity, err = n.ca.IssueDomain(domain); err != nil {
		t.Fatal(err)
	}
	if err := n.keys.Add(n.identity); err != nil {
		t.Fatal(err)
	}
	if n.listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) startSMTP(t *testing.T, serverTLS *tls.Config) {
	t.Helper()
	srv, err := smtpin.New(smtpin.Config{
		Hostname: "mx." + n.domain, Domains: []string{n.domain}, Spool: inbound.NewReceiver(n.svc),
		Mailboxes: n.proc.Mailboxes(), TLSConfig: serverTLS, RequireTLS: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(n.listener) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// wire builds the node's sender (to the peer's listener), channel, store,
// core and processor, and starts the store's workers.
func (n *node) wire(t *testing.T, trust *certs.TrustStore, peer string, roots *x509.CertPool, fetch smime.CRLFetcher) {
	t.Helper()
	ctx := t.Context()
	snd, err := smtpout.New(smtpout.Config{Smarthost: peer, HELO: "gw." + n.domain, TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snd.Close() })
	n.gate = &gatedTransport{next: snd}
	n.ch, err = channel.New(channel.Config{Domain: n.domain, Keys: n.keys, Trust: trust, Transport: n.gate, Now: n.clock.Now, CRLs: fetch,
		Discover: n.discover})
	if err != nil {
		t.Fatal(err)
	}
	n.dbPath, n.fetch = filepath.Join(t.TempDir(), "gateway.db"), fetch
	if onPostgres {
		n.pgURL = pgtest.FreshSchema(t, "gwdirect_")
	}
	n.key = make([]byte, 32)
	_, _ = rand.Read(n.key)
	n.fax = storetest.NewRecordingChannel(gateway.ChannelFax, storetest.Behavior{})
	n.open(t)
	if err := n.store.StartWorkers(ctx, n.svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.store.StopWorkers(sctx)
	})
}

// open opens the node's database file and builds its core and processor
// (a process start); the workers are not started.
func (n *node) open(t *testing.T) {
	t.Helper()
	var err error
	if n.pgURL != "" {
		n.store, err = pgstore.Open(t.Context(), n.pgURL, storetest.FastQueue())
	} else {
		n.store, err = litestore.Open(t.Context(), n.dbPath, storetest.FastQueue())
	}
	if err != nil {
		t.Fatal(err)
	}
	st := n.store
	t.Cleanup(func() { _ = st.Close() })
	sealer, err := gateway.NewSealer(n.key)
	if err != nil {
		t.Fatal(err)
	}
	n.svc = gateway.NewService(n.store, sealer, n.clock, gateway.DefaultConfig(), nil, n.ch, n.fax)
	if n.proc, err = inbound.New(inbound.Config{Service: n.svc, Channel: n.ch, CRLs: n.fetch}); err != nil {
		t.Fatal(err)
	}
}

// seedA puts the referring clinic and the cardiology practice (Direct, then
// fax) into A's directory, verified and under an active BAA.
func seedA(t *testing.T, a, b *node) {
	t.Helper()
	put(t, a, &gateway.Entry{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic",
		NPI: "1234567893", Direct: &gateway.DirectEndpoint{Address: addrA}})
	put(t, a, &gateway.Entry{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology",
		Direct:       &gateway.DirectEndpoint{Address: addrB, CertPEM: string(certs.EncodeCertPEM(b.identity.Cert))},
		Fax:          &gateway.FaxEndpoint{Number: "+15555550123"},
		ChannelOrder: []gateway.ChannelKind{gateway.ChannelDirect, gateway.ChannelFax}})
	if _, err := a.svc.VerifyEntry(t.Context(), admin, "cardio-b", "phone call to front desk"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.SetBAA(t.Context(), admin, gateway.BAAChange{PartyID: "cardio-b", State: gateway.BAAActive,
		End: a.clock.Now().AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
}

// seedB puts the cardiology practice itself into B's directory.
func seedB(t *testing.T, b *node) {
	t.Helper()
	put(t, b, &gateway.Entry{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology",
		Direct: &gateway.DirectEndpoint{Address: addrB}})
}

func put(t *testing.T, n *node, e *gateway.Entry) {
	t.Helper()
	if _, err := n.svc.PutEntry(t.Context(), admin, e); err != nil {
		t.Fatalf("put entry %s: %v", e.ID, err)
	}
}

// referral is a synthetic treatment referral from clinic-a to cardio-b.
func referral() gateway.NewReferral {
	return gateway.NewReferral{
		Requester:  gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary", NPI: "1234567893"},
		ReceiverID: "cardio-b",
		Patient:    gateway.Patient{ID: "MRN-0001", FamilyName: "Testpatient", GivenName: "Alex", BirthDate: "1970-01-01"},
		Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "49436004", Display: "Atrial fibrillation"},
		ReasonText: "Palpitations for three weeks; please evaluate.",
		Priority:   gateway.PriorityRoutine,
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Records: []gateway.NewRecord{
			{Title: "ECG report", ContentType: "application/pdf", Content: []byte("%PDF-1.4 synthetic ECG report")},
			{Title: "Note", ContentType: "text/plain", Content: []byte("Sinus rhythm with episodes of AF.")},
		},
		Submit: true,
	}
}

func create(t *testing.T, a *node) *gateway.Referral {
	t.Helper()
	r, err := a.svc.CreateReferral(t.Context(), gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, referral())
	if err != nil {
		t.Fatalf("create referral: %v", err)
	}
	if r.Status != gateway.StatusRequested {
		t.Fatalf("status after submit: %s (blocked: %s)", r.Status, r.Blocked)
	}
	return r
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// eventuallyOr is eventually that calls explain before failing.
func eventuallyOr(t *testing.T, what string, cond func() bool, explain func()) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			explain()
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processUntil waits until n's workers made cond hold.
func (n *node) processUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually(t, what, cond)
}

// inbox lists n's received messages in state st ("" for all), oldest first.
func (n *node) inbox(t *testing.T, st gateway.InboundState) []*gateway.InboundMessage {
	t.Helper()
	list, err := n.svc.ListInbound(t.Context(), gateway.InboundQuery{State: st})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list)
	return list
}

func (n *node) referral(t *testing.T, id string) (*gateway.Referral, []*gateway.Delivery) {
	t.Helper()
	r, ds, err := n.svc.Referral(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r, ds
}

// actions lists the audit actions in one tenant's trail.
func (n *node) actions(t *testing.T, tenant string) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for en, err := range n.store.AuditEntries(t.Context(), gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}

func hasAction(entries []audit.Entry, action string) *audit.Entry {
	for i := range entries {
		if entries[i].Action == action {
			return &entries[i]
		}
	}
	return nil
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cert, err := certs.SelfSignedTLS(time.Now(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, roots
}
