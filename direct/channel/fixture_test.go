package channel_test

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
)

const (
	ourDomain = "direct.clinic-a.example"
	ourAddr   = "referrals@" + ourDomain
	theirDom  = "direct.cardio-b.example"
	theirAddr = "intake@" + theirDom
)

// fixture is one CA trusted by us, our identity, a receiver identity and a
// few certificates that must be refused, all issued once per test binary.
type fixture struct {
	now                         time.Time
	ca                          *certs.CA
	ours, theirs                *certs.Identity
	expired, noEncipher, others *certs.Identity
	untrusted                   *certs.Identity
	keys, theirKeys             *certs.Keyring
	trust                       *certs.TrustStore
}

var (
	fxOnce sync.Once
	fx     fixture
	fxErr  error
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fxOnce.Do(func() { fxErr = fx.build() })
	if fxErr != nil {
		t.Fatal(fxErr)
	}
	return &fx
}

func (f *fixture) build() error {
	f.now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var err error
	if f.ca, err = certs.NewDevCA("test-anchor.example", f.now); err != nil {
		return err
	}
	issue := []struct {
		dst  **certs.Identity
		name string
		opts []certs.IssueOption
	}{
		{&f.ours, ourDomain, nil},
		{&f.theirs, theirDom, nil},
		{&f.expired, theirDom, []certs.IssueOption{certs.ValidBetween(f.now.AddDate(-2, 0, 0), f.now.AddDate(-1, 0, 0))}},
		{&f.noEncipher, theirDom, []certs.IssueOption{certs.WithKeyUsage(x509.KeyUsageDigitalSignature)}},
		{&f.others, "direct.elsewhere.example", nil},
	}
	for _, is := range issue {
		if *is.dst, err = f.ca.IssueDomain(is.name, is.opts...); err != nil {
			return err
		}
	}
	stranger, err := certs.NewDevCA("stranger.example", f.now)
	if err != nil {
		return err
	}
	if f.untrusted, err = stranger.IssueDomain(theirDom); err != nil {
		return err
	}
	f.keys, f.theirKeys = certs.NewKeyring(), certs.NewKeyring()
	if err := f.keys.Add(f.ours); err != nil {
		return err
	}
	if err := f.theirKeys.Add(f.theirs); err != nil {
		return err
	}
	f.trust, err = certs.NewTrustStore(f.ca.Cert)
	return err
}

// recorder is a Transport that keeps what it was given and answers with a
// scripted result.
type recorder struct {
	mu   sync.Mutex
	sent [][]byte
	from []string
	to   [][]string
	res  smtpout.Result
	err  error
}

func (r *recorder) Send(_ context.Context, from string, to []string, msg []byte) (smtpout.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, append([]byte(nil), msg...))
	r.from = append(r.from, from)
	r.to = append(r.to, to)
	return r.res, r.err
}

func newChannel(t testing.TB, tr channel.Transport, discover channel.DiscoverFunc) *channel.Channel {
	t.Helper()
	f := getFixture(t)
	ch, err := channel.New(channel.Config{Domain: ourDomain, Keys: f.keys, Trust: f.trust, Transport: tr,
		Discover: discover, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func entry(addr string, id *certs.Identity) *gateway.Entry {
	e := &gateway.Entry{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology",
		Direct: &gateway.DirectEndpoint{Address: addr}}
	if id != nil {
		e.Direct.CertPEM = string(certs.EncodeCertPEM(id.Cert))
	}
	return e
}

// outbound is a synthetic referral to cardio-b.
func outbound(part2 bool) *gateway.Outbound {
	return &gateway.Outbound{
		Referral: &gateway.Referral{
			ID: "ref-0001", Identifier: "CLINIC-A-77", Priority: gateway.PriorityUrgent,
			Requester:  gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary", NPI: "1234567893", Phone: "+15555550100"},
			Patient:    gateway.Patient{ID: "MRN-0001", System: "urn:oid:2.16.840.1.113883.3.9999", GivenName: "Alex", FamilyName: "Testpatient", BirthDate: "1970-01-01", Gender: "other"},
			Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "49436004", Display: "Atrial fibrillation"},
			ReasonText: "Palpitations for three weeks; please evaluate.",
			Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment, Purpose: "treatment"},
			Sensitive:  gateway.Sensitivity{Part2: part2},
		},
		Delivery: &gateway.Delivery{ID: "del-0001", Channel: gateway.ChannelDirect},
		Receiver: entry(theirAddr, getFixtureNoT().theirs),
		Sender:   &gateway.Entry{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic"},
		Records: []gateway.RecordContent{
			{Record: gateway.Record{ID: "rec-1", Title: "ECG report (12 lead)", ContentType: "application/pdf"}, Content: []byte("%PDF-1.4 synthetic")},
			{Record: gateway.Record{ID: "rec-2", Title: "Visit note", ContentType: "text/plain"}, Content: []byte("Sinus rhythm with episodes of AF.\n")},
		},
	}
}

// getFixtureNoT is for helpers that run after a test already built the fixture.
func getFixtureNoT() *fixture {
	fxOnce.Do(func() { fxErr = fx.build() })
	return &fx
}
