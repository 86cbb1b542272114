package smime_test

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/smime"
)

// Synthetic Direct addresses used throughout the tests.
const (
	senderAddr    = "dr.rivera@direct.example-clinic.test"
	recipientAddr = "intake@direct.example-cardiology.test"
	senderDomain  = "direct.example-clinic.test"
)

// fixture is the PKI every test shares: generating RSA keys is the slow part
// of these tests, so it is built once in TestMain.
type fixture struct {
	now      time.Time
	ca       *certs.CA
	otherCA  *certs.CA
	crlSrv   *httptest.Server
	crlMu    sync.Mutex
	crlDER   []byte
	sender   *certs.Identity // address-bound, CRL DP on crlSrv
	domain   *certs.Identity // domain-bound for senderDomain
	rcpt     *certs.Identity // the recipient, our decryption key
	stranger *certs.Identity // a recipient key we do not hold
	untrust  *certs.Identity // sender address under otherCA
	expired  *certs.Identity // sender address, validity ended yesterday
	revoked  *certs.Identity // sender address, listed on the CRL
	noSign   *certs.Identity // sender address, keyEncipherment only
	keyring  *certs.Keyring
	anchors  *x509.CertPool
}

var fx *fixture

// The Keyring is the KeyResolver the gateway wires in.
var _ smime.KeyResolver = (*certs.Keyring)(nil)

func TestMain(m *testing.M) {
	var err error
	fx, err = newFixture()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixture:", err)
		os.Exit(1)
	}
	code := m.Run()
	fx.crlSrv.Close()
	os.Exit(code)
}

func newFixture() (*fixture, error) {
	f := &fixture{now: time.Now().UTC().Truncate(time.Second)}
	f.crlSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.crlMu.Lock()
		defer f.crlMu.Unlock()
		if r.URL.Path != "/ca.crl" || f.crlDER == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(f.crlDER)
	}))
	var err error
	if f.ca, err = certs.NewDevCA("example-clinic.test", f.now); err != nil {
		return nil, err
	}
	f.ca.CRLURL = f.crlSrv.URL + "/ca.crl"
	if f.otherCA, err = certs.NewDevCA("rogue.test", f.now); err != nil {
		return nil, err
	}
	issue := []struct {
		dst  **certs.Identity
		ca   *certs.CA
		name string
		opts []certs.IssueOption
	}{
		{&f.sender, f.ca, senderAddr, nil},
		{&f.domain, f.ca, "", nil},
		{&f.rcpt, f.ca, recipientAddr, nil},
		{&f.stranger, f.ca, "someone@direct.example-other.test", nil},
		{&f.untrust, f.otherCA, senderAddr, nil},
		{&f.expired, f.ca, senderAddr, []certs.IssueOption{certs.ValidBetween(f.now.AddDate(-1, 0, 0), f.now.AddDate(0, 0, -1))}},
		{&f.revoked, f.ca, senderAddr, nil},
		{&f.noSign, f.ca, senderAddr, []certs.IssueOption{certs.WithKeyUsage(x509.KeyUsageKeyEncipherment)}},
	}
	for _, is := range issue {
		if is.name == "" {
			*is.dst, err = is.ca.IssueDomain(senderDomain)
		} else {
			*is.dst, err = is.ca.IssueAddress(is.name, is.opts...)
		}
		if err != nil {
			return nil, err
		}
	}
	if f.crlDER, err = f.ca.CRL(f.revoked.Cert); err != nil {
		return nil, err
	}
	f.keyring = certs.NewKeyring()
	if err := f.keyring.Add(f.rcpt); err != nil {
		return nil, err
	}
	f.anchors = x509.NewCertPool()
	f.anchors.AddCert(f.ca.Cert)
	return f, nil
}

// verifyOpts returns options that check everything, CRLs included, at the
// fixture's time for senderAddr.
func (f *fixture) verifyOpts() smime.VerifyOptions {
	return smime.VerifyOptions{
		Sender:       senderAddr,
		TrustAnchors: f.anchors,
		Now:          func() time.Time { return f.now },
		CRLs:         &smime.HTTPCRLFetcher{Timeout: 5 * time.Second},
	}
}

// entity returns a small canonical MIME entity with synthetic content.
func entity(body string) []byte {
	return []byte("Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 7bit\r\n\r\n" + body)
}

const referralText = "Referral for synthetic patient Jane Testpatient, NPI 1234567893.\r\nReason: chest pain evaluation.\r\n"

func mustSign(t testing.TB, id *certs.Identity, ent []byte) []byte {
	t.Helper()
	out, err := smime.Sign(ent, id.Cert, id.Key, id.Chain)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
