package callback_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fax/callback"
	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/faxsim"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// Synthetic parties and credentials.
const (
	apiKey    = "test-key"
	apiSecret = "test-secret"
	faxNumber = "+15555550123"
	vendorID  = "faxvendor"
	clinicID  = "clinic-a"
	receiverI = "cardio-b"
)

var (
	token = []byte("synthetic-callback-token")
	admin = gateway.Actor{ID: "user:admin"} // gateway-wide: the directory is administered for every practice
)

// env is one gateway with the fax channel and callback endpoint, talking to
// the fax emulator over real HTTP listeners.
type env struct {
	sim          *faxsim.Server
	api          *httptest.Server // the emulated vendor API
	cbSrv        *httptest.Server // our callback endpoint
	callback     string           // its exact URL
	store        *sqlstore.Store
	svc          *gateway.Service
	ch           *channel.Channel
	clock        gateway.Clock
	statusGets   atomic.Int64 // GET /v2.1/faxes/{id} requests seen by the vendor
	sendReturned atomic.Int64 // submissions answered by callbackFirst
	lose         atomic.Bool  // callbacks are lost (answered 503 unread), as while the gateway is down
}

// options tune an env.
type options struct {
	behavior      faxsim.Behavior
	callbackDelay time.Duration
	clock         gateway.Clock
	vendorBAA     gateway.BAAState // BAAActive when empty
	unverified    bool             // the receiver's own entry is not verified (its parent is)
	apiWrap       func(e *env, next http.Handler) http.Handler
	startLater    bool // the test calls start itself
	wrapStore     func(gateway.Store) gateway.Store
	pollEvery     time.Duration // Config.ReceiptPollEvery; the default when zero
}

func newEnv(t testing.TB, o options) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{clock: o.clock}
	if e.clock == nil {
		e.clock = gateway.SystemClock{}
	}
	behaviors := map[string]faxsim.Behavior{}
	if o.behavior != "" {
		behaviors[faxNumber] = o.behavior
	}
	e.sim = faxsim.New(faxsim.Config{APIKey: apiKey, APISecret: apiSecret, CallbackToken: token,
		Behaviors: behaviors, CallbackDelay: o.callbackDelay})
	t.Cleanup(e.sim.Close)
	var api http.Handler = e.sim
	if o.apiWrap != nil {
		api = o.apiWrap(e, api)
	}
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			e.statusGets.Add(1)
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(e.api.Close)

	var cb atomic.Pointer[http.Handler]
	e.cbSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.lose.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		(*cb.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(e.cbSrv.Close)
	e.callback = e.cbSrv.URL + "/fax/callback"

	var err error
	e.ch, err = channel.New(channel.Config{
		Vendor:      channel.Phaxio{Client: &phaxio.Client{BaseURL: e.api.URL, APIKey: apiKey, APISecret: apiSecret, HTTPClient: &http.Client{Timeout: 10 * time.Second}}},
		CallbackURL: e.callback,
		Now:         e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.store, err = litestore.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"), storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.store.Close() })
	sealer, err := gateway.NewSealer(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.Vendors = map[gateway.ChannelKind]string{gateway.ChannelFax: vendorID}
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.ChannelRetries = 3
	if o.pollEvery > 0 {
		cfg.ReceiptPollEvery = o.pollEvery
	}
	var store gateway.Store = e.store
	if o.wrapStore != nil {
		e.store.UseSealer(sealer) // the service reaches only the wrapper
		store = o.wrapStore(store)
	}
	e.svc = gateway.NewService(store, sealer, e.clock, cfg, nil, e.ch)
	h := callback.Handler(e.svc, callback.Config{CallbackURL: e.callback, Token: token})
	cb.Store(&h)
	e.seed(t, o)
	if !o.startLater {
		e.start(t)
	}
	return e
}

// start runs the store's workers until the test ends.
func (e *env) start(t testing.TB) {
	t.Helper()
	if err := e.store.StartWorkers(t.Context(), e.svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.store.StopWorkers(sctx)
	})
}

// seed puts the referring clinic, the receiving cardiology practice (fax
// only, verified, active BAA) and the fax vendor into the directory.
func (e *env) seed(t testing.TB, o options) {
	t.Helper()
	ctx := t.Context()
	now := e.clock.Now()
	put := func(en *gateway.Entry) {
		t.Helper()
		if _, err := e.svc.PutEntry(ctx, admin, en); err != nil {
			t.Fatalf("put %s: %v", en.ID, err)
		}
	}
	verify := func(id string) {
		t.Helper()
		if _, err := e.svc.VerifyEntry(ctx, admin, id, "phone call to front desk"); err != nil {
			t.Fatalf("verify %s: %v", id, err)
		}
	}
	baa := func(id string, st gateway.BAAState) {
		t.Helper()
		if _, err := e.svc.SetBAA(ctx, admin, gateway.BAAChange{PartyID: id, State: st, Start: now.AddDate(0, -1, 0),
			End: now.AddDate(1, 0, 0)}); err != nil {
			t.Fatalf("BAA %s → %s: %v", id, st, err)
		}
	}
	put(&gateway.Entry{ID: clinicID, Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic", NPI: "1234567893"})
	put(&gateway.Entry{ID: "cardio-org", Kind: gateway.KindOrganization, Name: "Synthetic Heart Group"})
	verify("cardio-org")
	put(&gateway.Entry{ID: receiverI, Kind: gateway.KindLocation, Name: "Synthetic Cardiology Intake", ParentID: "cardio-org",
		Fax: &gateway.FaxEndpoint{Number: faxNumber}, ChannelOrder: []gateway.ChannelKind{gateway.ChannelFax}})
	if !o.unverified {
		verify(receiverI)
	}
	baa("cardio-org", gateway.BAAActive)
	put(&gateway.Entry{ID: vendorID, Kind: gateway.KindVendor, Name: "Synthetic Fax Vendor", VendorRole: "fax"})
	switch st := o.vendorBAA; st {
	case "", gateway.BAAActive:
		baa(vendorID, gateway.BAAActive)
	case gateway.BAATerminated:
		baa(vendorID, gateway.BAAActive)
		baa(vendorID, st)
	default:
		baa(vendorID, st)
	}
	if _, err := e.svc.CaptureConsent(ctx, admin, gateway.ConsentRecord{Tenant: clinicID, PatientID: "MRN-0001",
		Kind: gateway.ConsentPart2, Signed: now.AddDate(0, 0, -7), Purposes: []string{"treatment"}}); err != nil {
		t.Fatal(err)
	}
}

// recordPDF is a synthetic two-page PDF record.
func recordPDF(t testing.TB) []byte {
	t.Helper()
	d := fpdf.New("P", "mm", "Letter", "")
	d.SetFont("Helvetica", "", 12)
	for _, line := range []string{"Synthetic ECG report, page one", "Synthetic ECG report, page two"} {
		d.AddPage()
		d.Cell(0, 10, line)
	}
	var buf bytes.Buffer
	if err := d.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newReferral is a synthetic urgent referral from clinic-a to cardio-b.
func newReferral(t testing.TB, part2 bool) gateway.NewReferral {
	return gateway.NewReferral{
		Requester:  gateway.Requester{OrgID: clinicID, Name: "Dr. Synthetic Primary", NPI: "1234567893", Phone: "+1 555 555 0100"},
		ReceiverID: receiverI,
		Patient:    gateway.Patient{ID: "MRN-0001", FamilyName: "Testpatient", GivenName: "Alex", BirthDate: "1970-01-01"},
		Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "49436004", Display: "Atrial fibrillation"},
		Priority:   gateway.PriorityUrgent,
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Sensitive:  gateway.Sensitivity{Part2: part2},
		Records: []gateway.NewRecord{
			{Title: "ECG report", ContentType: "application/pdf", Content: recordPDF(t)},
			{Title: "Visit note", ContentType: "text/plain", Content: []byte("Sinus rhythm with episodes of AF.\n")},
		},
		Submit: true,
	}
}

func (e *env) create(t *testing.T, part2 bool) *gateway.Referral {
	t.Helper()
	r, err := e.svc.CreateReferral(t.Context(), gateway.Actor{ID: "user:referrer", OrgID: clinicID}, newReferral(t, part2))
	if err != nil {
		t.Fatalf("create referral: %v", err)
	}
	if r.Status != gateway.StatusRequested {
		t.Fatalf("status after submit: %s (blocked: %s)", r.Status, r.Blocked)
	}
	return r
}

func (e *env) referral(t *testing.T, id string) (*gateway.Referral, []*gateway.Delivery) {
	t.Helper()
	r, ds, err := e.svc.Referral(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r, ds
}

// waitStatus polls until the referral reaches want.
func (e *env) waitStatus(t *testing.T, id string, want gateway.Status) (*gateway.Referral, []*gateway.Delivery) {
	t.Helper()
	var r *gateway.Referral
	var ds []*gateway.Delivery
	eventually(t, "referral "+string(want), func() bool {
		r, ds = e.referral(t, id)
		return r.Status == want
	})
	return r, ds
}

// waitReceived waits until the referral is received and every delivery's
// send is recorded: the emulator's callback can deliver a fax before the
// core records the send (and with it the fax id), in either order.
func (e *env) waitReceived(t *testing.T, id string) (*gateway.Referral, []*gateway.Delivery) {
	t.Helper()
	var r *gateway.Referral
	var ds []*gateway.Delivery
	eventually(t, "referral received and its sends recorded", func() bool {
		r, ds = e.referral(t, id)
		if r.Status != gateway.StatusReceived {
			return false
		}
		for _, d := range ds {
			if d.State == gateway.DeliveryDelivered && d.RemoteID == "" {
				return false
			}
		}
		return true
	})
	return r, ds
}

// faxesFor returns the faxes the emulator accepted for one delivery.
func (e *env) faxesFor(deliveryID string) []faxsim.Fax {
	var out []faxsim.Fax
	for _, f := range e.sim.Received() {
		if f.Tags[channel.TagDelivery] == deliveryID {
			out = append(out, f)
		}
	}
	return out
}

// trail lists one tenant's audit entries.
func (e *env) trail(t *testing.T, tenant string) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for en, err := range e.store.AuditEntries(t.Context(), gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}

// count counts the entries of a trail with the action (and, when set, the
// detail key=value).
func count(entries []audit.Entry, action string, kv ...string) int {
	n := 0
	for _, en := range entries {
		if en.Action != action {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			ok = ok && en.Detail[kv[i]] == kv[i+1]
		}
		if ok {
			n++
		}
	}
	return n
}

// countEdges adds up the counts of the aggregated edge entries of a trail
// with the action and reason.
func countEdges(entries []audit.Entry, action, reason string) int {
	n := 0
	for _, en := range entries {
		if en.Action == action && en.Detail["reason"] == reason {
			c, err := strconv.Atoi(en.Detail["count"])
			if err != nil {
				panic(fmt.Sprintf("edge entry %d: count %q", en.Seq, en.Detail["count"]))
			}
			n += c
		}
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// pdfText extracts the text of pages first..last with pdftotext.
func pdfText(t *testing.T, pdf []byte, first, last int) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed")
	}
	cmd := exec.CommandContext(t.Context(), bin, "-f", strconv.Itoa(first), "-l", strconv.Itoa(last), "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}
