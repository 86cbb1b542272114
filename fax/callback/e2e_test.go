package callback_test

import (
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/faxsim"
	"github.com/referralgw/gateway/fax/packet"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/storetest"
)

func TestSuccess(t *testing.T) {
	for _, part2 := range []bool{true, false} {
		t.Run("part2="+strconv.FormatBool(part2), func(t *testing.T) {
			e := newEnv(t, options{})
			r := e.create(t, part2)
			_, ds := e.waitReceived(t, r.ID)
			if len(ds) != 1 || ds[0].Channel != gateway.ChannelFax || ds[0].State != gateway.DeliveryDelivered {
				t.Fatalf("deliveries: %+v", ds)
			}
			d := ds[0]
			faxes := e.faxesFor(d.ID)
			if len(faxes) != 1 {
				t.Fatalf("faxes for delivery %s: %d", d.ID, len(faxes))
			}
			f := faxes[0]
			if d.RemoteID != f.ID.String() || f.Tags[phaxio.IdempotencyTag] != d.ID || f.To != faxNumber {
				t.Errorf("fax %s to %s tags %v; delivery remote id %s", f.ID, f.To, f.Tags, d.RemoteID)
			}
			if len(f.Files) != 1 {
				t.Fatalf("files: %d", len(f.Files))
			}
			pages, err := packet.PageCount(f.Files[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			// Cover sheet, the two-page PDF record and one page of visit note.
			if pages < 4 || pages != f.NumPages {
				t.Errorf("packet has %d pages, emulator counted %d, want at least 4", pages, f.NumPages)
			}
			last := d.Receipts[len(d.Receipts)-1]
			if last.Kind != gateway.ReceiptFaxSuccess || !last.Final || last.Detail != strconv.Itoa(pages)+" pages" {
				t.Errorf("receipt %+v", last)
			}
			cover := pdfText(t, f.Files[0].Data, 1, 1)
			for _, want := range []string{"Synthetic Cardiology Intake", "Synthetic Family Clinic", "Dr. Synthetic Primary",
				"Atrial fibrillation", "URGENT", "ECG report", "Visit note"} {
				if !strings.Contains(cover, want) {
					t.Errorf("cover lacks %q:\n%s", want, cover)
				}
			}
			if m := regexp.MustCompile(`(?i)pages[^0-9]{0,40}([0-9]+)`).FindStringSubmatch(cover); m == nil || m[1] != strconv.Itoa(pages) {
				t.Errorf("cover page total %v, packet has %d pages", m, pages)
			}
			if got := strings.Contains(strings.Join(strings.Fields(cover), " "), "42 CFR part 2 prohibits unauthorized use or disclosure of these records."); got != part2 {
				t.Errorf("Part 2 notice on cover = %v, want %v", got, part2)
			}
			if strings.Contains(cover, "Testpatient") {
				t.Error("cover sheet carries the patient's name")
			}
			trail := e.trail(t, clinicID)
			if count(trail, "fax.callback", "delivery", d.ID, "status", "success") != 1 {
				t.Errorf("callback not audited once in the referrer's trail")
			}
			if count(e.trail(t, "cardio-org"), "fax.callback", "delivery", d.ID) != 1 {
				t.Errorf("callback not audited in the receiver's trail")
			}
		})
	}
}

func TestBusyThenSuccess(t *testing.T) {
	t.Parallel() // waits on the queue's scheduler for the backoff
	e := newEnv(t, options{behavior: faxsim.BusyThenSuccess})
	r := e.create(t, false)
	_, ds := e.waitStatus(t, r.ID, gateway.StatusReceived)
	if len(ds) != 2 {
		t.Fatalf("deliveries: %d, want 2", len(ds))
	}
	first, second := ds[0], ds[1]
	if first.Created.After(second.Created) {
		first, second = second, first
	}
	if first.Channel != gateway.ChannelFax || first.State != gateway.DeliveryFailed {
		t.Errorf("first delivery %s on %s", first.State, first.Channel)
	}
	if rc := first.Receipts[len(first.Receipts)-1]; rc.Kind != gateway.ReceiptFailed || !rc.Retryable ||
		!strings.Contains(rc.Detail, strconv.Itoa(faxsim.CodeBusy)) {
		t.Errorf("first receipt %+v", rc)
	}
	if second.Channel != gateway.ChannelFax || second.State != gateway.DeliveryDelivered {
		t.Errorf("second delivery %s on %s", second.State, second.Channel)
	}
	if n := len(e.sim.Received()); n != 2 {
		t.Errorf("emulator received %d faxes, want 2", n)
	}
}

func TestFailureAfterRetries(t *testing.T) {
	for _, b := range []faxsim.Behavior{faxsim.Busy, faxsim.NoAnswer} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel() // waits on the queue's scheduler for the backoffs
			e := newEnv(t, options{behavior: b})
			r := e.create(t, false)
			r, ds := e.waitStatus(t, r.ID, gateway.StatusFailed)
			if len(ds) != 3 {
				t.Errorf("deliveries: %d, want 3 (ChannelRetries)", len(ds))
			}
			for _, d := range ds {
				if d.Channel != gateway.ChannelFax || d.State != gateway.DeliveryFailed {
					t.Errorf("delivery %s: %s on %s", d.ID, d.State, d.Channel)
				}
			}
			if !strings.Contains(r.FailureReason, "fax") {
				t.Errorf("failure reason %q does not name fax", r.FailureReason)
			}
			if n := len(e.sim.Received()); n != 3 {
				t.Errorf("emulator received %d faxes, want 3", n)
			}
		})
	}
}

func TestNotRetryableFailure(t *testing.T) {
	e := newEnv(t, options{behavior: faxsim.Fail})
	r := e.create(t, false)
	r, ds := e.waitStatus(t, r.ID, gateway.StatusFailed)
	if len(ds) != 1 {
		t.Errorf("deliveries: %d, want 1 (a failed negotiation is not retried)", len(ds))
	}
	if !strings.Contains(r.FailureReason, "fax") || !strings.Contains(r.FailureReason, strconv.Itoa(faxsim.CodeFailed)) {
		t.Errorf("failure reason %q", r.FailureReason)
	}
}

// callbackForm is the signed form of a send callback for fax f with the
// given status.
func callbackForm(f faxsim.Fax, status phaxio.Status) url.Values {
	fax := map[string]any{"id": int64(f.ID), "direction": "sent", "num_pages": f.NumPages, "status": string(status),
		"is_test": true, "tags": f.Tags, "recipients": []map[string]any{{"phone_number": f.To, "status": string(status)}}}
	raw, _ := json.Marshal(fax)
	return url.Values{"success": {strconv.FormatBool(status == phaxio.StatusSuccess)}, "is_test": {"true"},
		"direction": {"sent"}, "fax": {string(raw)}}
}

// post sends a callback to our endpoint; sig "" sends no signature header.
func (e *env) post(t *testing.T, form url.Values, sig string) (int, string) {
	t.Helper()
	var body strings.Builder
	mw := multipart.NewWriter(&body)
	for _, k := range []string{"success", "is_test", "direction", "fax"} {
		if err := mw.WriteField(k, form.Get(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.callback, strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if sig != "" {
		req.Header.Set(phaxio.SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRefusedSignature(t *testing.T) {
	e := newEnv(t, options{})
	r := e.create(t, false)
	_, ds := e.waitStatus(t, r.ID, gateway.StatusReceived)
	f := e.faxesFor(ds[0].ID)[0]
	form := callbackForm(f, phaxio.StatusFailure)
	good := phaxio.SignCallback(e.callback, form, nil, token)
	cases := []struct {
		name, sig, reason string
	}{
		{"missing", "", "signature missing"},
		{"wrong token", phaxio.SignCallback(e.callback, form, nil, []byte("not-the-token")), "signature mismatch"},
		{"other URL", phaxio.SignCallback(e.callback+"?x=1", form, nil, token), "signature mismatch"},
		{"not hex", "zz" + good[2:], "signature mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Unsigned refusals are aggregated per peer and reason: flush the
			// window, then the counts must add up to one more.
			if err := e.svc.FlushEdges(t.Context()); err != nil {
				t.Fatal(err)
			}
			before := countEdges(e.trail(t, gateway.SystemTenant), "fax.callback.refused", c.reason)
			code, body := e.post(t, form, c.sig)
			if code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", code)
			}
			if strings.TrimSpace(body) != http.StatusText(http.StatusUnauthorized) {
				t.Errorf("body says more than the status: %q", body)
			}
			if err := e.svc.FlushEdges(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := countEdges(e.trail(t, gateway.SystemTenant), "fax.callback.refused", c.reason); got != before+1 {
				t.Errorf("refusals audited: %d, want %d", got, before+1)
			}
		})
	}
	// Nothing changed: the delivered fax was not failed by the forged callbacks.
	rr, ds2 := e.referral(t, r.ID)
	if rr.Status != gateway.StatusReceived || ds2[0].State != gateway.DeliveryDelivered || len(ds2[0].Receipts) != len(ds[0].Receipts) {
		t.Errorf("forged callbacks changed the referral: %s, delivery %s with %d receipts", rr.Status, ds2[0].State, len(ds2[0].Receipts))
	}
}

func TestReplayedCallback(t *testing.T) {
	e := newEnv(t, options{})
	r := e.create(t, false)
	_, ds := e.waitStatus(t, r.ID, gateway.StatusReceived)
	d := ds[0]
	f := e.faxesFor(d.ID)[0]
	eventually(t, "the emulator's callback answered", func() bool {
		g, _ := e.sim.Fax(f.ID)
		return len(g.Callbacks) == 1 && g.Callbacks[0].StatusCode == http.StatusOK
	})
	before := len(e.trail(t, clinicID))
	// A script replays one genuine callback many times.
	form := callbackForm(f, phaxio.StatusSuccess)
	sig := phaxio.SignCallback(e.callback, form, nil, token)
	const replays = 60
	for i := range replays {
		code, _ := e.post(t, form, sig)
		if code != http.StatusOK {
			t.Fatalf("replay %d: status %d, want 200", i+1, code)
		}
	}
	_, ds2 := e.referral(t, r.ID)
	if len(ds2[0].Receipts) != len(d.Receipts) {
		t.Errorf("replays added receipts: %d → %d", len(d.Receipts), len(ds2[0].Receipts))
	}
	trail := e.trail(t, clinicID)
	if n := count(trail, "delivery.delivered", "delivery", d.ID); n != 1 {
		t.Errorf("delivery.delivered audited %d times", n)
	}
	if n := count(trail, "delivery.receipt-late", "delivery", d.ID); n != 0 {
		t.Errorf("replays reached the core %d times", n)
	}
	// The trail records that replays happen, but not one entry each: the
	// first at once, the rest of the window as one entry with their count.
	if n := count(trail, "fax.callback.replay", "source", d.ID); n != 1 {
		t.Errorf("replays written at once: %d entries, want 1", n)
	}
	if err := e.svc.FlushEdges(t.Context()); err != nil {
		t.Fatal(err)
	}
	trail = e.trail(t, clinicID)
	if got := countEdges(trail, "fax.callback.replay", string(phaxio.StatusSuccess)); got != replays {
		t.Errorf("replays counted %d, want %d", got, replays)
	}
	if grew := len(trail) - before; grew > 2 {
		t.Errorf("%d replays wrote %d entries, want at most 2", replays, grew)
	}
	for _, en := range trail {
		if en.Action == "fax.callback.replay" && (en.ReferralID != r.ID || en.Detail["text"] != strconv.Quote(f.ID.String())) {
			t.Errorf("replay entry %d: referral %q text %q", en.Seq, en.ReferralID, en.Detail["text"])
		}
	}
	// The receiving organization's trail sees them too, as it saw each replay before.
	if got := countEdges(e.trail(t, "cardio-org"), "fax.callback.replay", string(phaxio.StatusSuccess)); got != replays {
		t.Errorf("receiver's trail counts %d replays, want %d", got, replays)
	}
}

// TestRepeatedSignedRefusals: signed callbacks that change nothing and
// carry no replay key of their own (progress, an unknown fax) can be sent
// again without end; each kind writes a bounded number of entries.
func TestRepeatedSignedRefusals(t *testing.T) {
	e := newEnv(t, options{})
	r := e.create(t, false)
	_, ds := e.waitStatus(t, r.ID, gateway.StatusReceived)
	f := e.faxesFor(ds[0].ID)[0]
	unknown := faxsim.Fax{ID: 987654, To: faxNumber, NumPages: 1}
	cases := []struct {
		name, tenant, action, reason string
		form                         url.Values
		want                         int
	}{
		{"progress", clinicID, "fax.callback.progress", string(phaxio.StatusInProgress), callbackForm(f, phaxio.StatusInProgress), http.StatusOK},
		{"unknown fax", gateway.SystemTenant, "fax.callback.refused", "unknown fax", callbackForm(unknown, phaxio.StatusSuccess), http.StatusNotFound},
	}
	const posts = 40
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := e.svc.FlushEdges(t.Context()); err != nil {
				t.Fatal(err)
			}
			before := len(e.trail(t, c.tenant))
			sig := phaxio.SignCallback(e.callback, c.form, nil, token)
			for i := range posts {
				if code, _ := e.post(t, c.form, sig); code != c.want {
					t.Fatalf("post %d: status %d, want %d", i+1, code, c.want)
				}
			}
			if grew := len(e.trail(t, c.tenant)) - before; grew != 1 {
				t.Errorf("%d posts wrote %d entries at once, want 1", posts, grew)
			}
			if err := e.svc.FlushEdges(t.Context()); err != nil {
				t.Fatal(err)
			}
			trail := e.trail(t, c.tenant)
			if grew := len(trail) - before; grew != 2 {
				t.Errorf("%d posts wrote %d entries after the flush, want 2", posts, grew)
			}
			if got := countEdges(trail, c.action, c.reason); got != posts {
				t.Errorf("counted %d, want %d", got, posts)
			}
		})
	}
}

func TestUnknownFax(t *testing.T) {
	e := newEnv(t, options{})
	f := faxsim.Fax{ID: 987654, To: faxNumber, NumPages: 2, Tags: map[string]string{"delivery": "no-such-delivery",
		phaxio.IdempotencyTag: "no-such-delivery"}}
	form := callbackForm(f, phaxio.StatusSuccess)
	code, _ := e.post(t, form, phaxio.SignCallback(e.callback, form, nil, token))
	if code != http.StatusNotFound {
		t.Errorf("status %d, want 404", code)
	}
	if n := count(e.trail(t, gateway.SystemTenant), "fax.callback.refused", "reason", "unknown fax", "source", "fax:987654"); n != 1 {
		t.Errorf("unknown fax audited %d times", n)
	}
}

// outageFor makes the emulator unavailable for the first n API requests
// (a resend's lookup of an earlier fax is a request too).
func outageFor(n int64) func(e *env, next http.Handler) http.Handler {
	return func(e *env, next http.Handler) http.Handler {
		var seen atomic.Int64
		e.sim.SetUnavailable(true)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if seen.Add(1) == n {
				e.sim.SetUnavailable(false)
			}
		})
	}
}

func TestVendorDown(t *testing.T) {
	e := newEnv(t, options{apiWrap: outageFor(2)})
	r := e.create(t, false)
	_, ds := e.waitReceived(t, r.ID)
	if len(ds) != 1 {
		t.Fatalf("deliveries: %d", len(ds))
	}
	d := ds[0]
	if d.Attempts != 3 {
		t.Errorf("attempts %d, want 3 (a 503 to the send, a 503 to the resend's lookup, then accepted)", d.Attempts)
	}
	if n := count(e.trail(t, clinicID), "delivery.retry", "delivery", d.ID); n != 2 {
		t.Errorf("delivery.retry audited %d times, want 2", n)
	}

	// A resend of the same delivery, as after a crash between the vendor's
	// acceptance and the core recording it, returns the same fax.
	rr, _ := e.referral(t, r.ID)
	recs, err := e.svc.RecordContents(t.Context(), rr)
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := e.svc.Entry(t.Context(), receiverI)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := e.svc.Entry(t.Context(), clinicID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.ch.Send(t.Context(), &gateway.Outbound{Referral: rr, Delivery: d, Receiver: receiver, Sender: sender, Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if res.RemoteID != d.RemoteID {
		t.Errorf("resend got fax %s, first send %s", res.RemoteID, d.RemoteID)
	}
	faxes := e.faxesFor(d.ID)
	if len(faxes) != 1 {
		t.Fatalf("faxes for delivery: %d, want 1", len(faxes))
	}
	if faxes[0].Submissions != 1 {
		t.Errorf("submissions %d, want 1 (the resend finds the fax by its delivery tag and does not submit)", faxes[0].Submissions)
	}
}

func TestVendorBAAInactive(t *testing.T) {
	for _, st := range []gateway.BAAState{gateway.BAADraft, gateway.BAATerminated} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t, options{vendorBAA: st})
			r, err := e.svc.CreateReferral(t.Context(), gateway.Actor{ID: "user:referrer", OrgID: clinicID}, newReferral(t, false))
			var re *gateway.RoutingError
			if !errors.As(err, &re) {
				t.Fatalf("create: %v, want a routing refusal", err)
			}
			if r == nil || r.Status != gateway.StatusDraft || !strings.Contains(r.Blocked, "fax vendor") {
				t.Errorf("referral %+v", r)
			}
			if n := len(e.sim.Received()); n != 0 {
				t.Errorf("emulator received %d faxes", n)
			}
		})
	}
}

func TestVendorBAAEndsBeforeSend(t *testing.T) {
	e := newEnv(t, options{startLater: true})
	r := e.create(t, false)
	if _, err := e.svc.SetBAA(t.Context(), admin, gateway.BAAChange{PartyID: vendorID, State: gateway.BAATerminated}); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	r, ds := e.waitStatus(t, r.ID, gateway.StatusFailed)
	if len(ds) != 1 || ds[0].State != gateway.DeliveryFailed || !strings.Contains(ds[0].LastError, "refused at send time") {
		t.Errorf("deliveries %+v", ds)
	}
	if !strings.Contains(r.FailureReason, "fax vendor") {
		t.Errorf("failure reason %q", r.FailureReason)
	}
	if n := len(e.sim.Received()); n != 0 {
		t.Errorf("emulator received %d faxes", n)
	}
	if count(e.trail(t, clinicID), "delivery.send-refused", "channel", "fax") != 1 {
		t.Error("send-time refusal not audited")
	}
}

func TestUnverifiedNumber(t *testing.T) {
	e := newEnv(t, options{unverified: true})
	r, err := e.svc.CreateReferral(t.Context(), gateway.Actor{ID: "user:referrer", OrgID: clinicID}, newReferral(t, false))
	var re *gateway.RoutingError
	if !errors.As(err, &re) {
		t.Fatalf("create: %v, want a routing refusal", err)
	}
	if r == nil || !strings.Contains(r.Blocked, "fax number not verified") {
		t.Errorf("blocked: %q", r.Blocked)
	}
	if n := len(e.sim.Received()); n != 0 {
		t.Errorf("emulator received %d faxes", n)
	}
}

func TestNoCallbackByDeadline(t *testing.T) {
	clock := storetest.NewManualClock(time.Now().UTC())
	e := newEnv(t, options{clock: clock, callbackDelay: time.Hour})
	r := e.create(t, false)
	var d *gateway.Delivery
	eventually(t, "the fax sent", func() bool {
		_, ds := e.referral(t, r.ID)
		d = ds[0]
		return d.State == gateway.DeliverySent
	})
	if want := clock.Now().Add(channel.DefaultCallbackWithin); !d.Deadline.Equal(want) {
		t.Errorf("deadline %s, want %s", d.Deadline, want)
	}
	// Before the deadline the job only asks to run again later.
	var snooze *gateway.SnoozeError
	if err := e.svc.CheckReceiptDeadline(t.Context(), d.ID); !errors.As(err, &snooze) {
		t.Fatalf("before the deadline: %v, want a snooze", err)
	}
	if n := e.statusGets.Load(); n != 0 {
		t.Errorf("polled %d times before the deadline", n)
	}
	clock.Advance(channel.DefaultCallbackWithin + time.Minute)
	if err := e.svc.CheckReceiptDeadline(t.Context(), d.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.statusGets.Load(); n != 1 {
		t.Errorf("polled the vendor %d times at the deadline, want once", n)
	}
	rr, ds := e.referral(t, r.ID)
	if rr.Status != gateway.StatusFailed || ds[0].State != gateway.DeliveryFailed {
		t.Errorf("after the deadline: referral %s, delivery %s", rr.Status, ds[0].State)
	}
	if !strings.Contains(rr.FailureReason, "fax") || !strings.Contains(rr.FailureReason, "no receipt") {
		t.Errorf("failure reason %q", rr.FailureReason)
	}
}

// callbackFirst holds the vendor's acceptance of a fax until the emulator's
// callback for it has been answered, so the callback overtakes the core's
// recording of the send.
func callbackFirst(e *env, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if r.Method == http.MethodPost && rec.Code == http.StatusOK {
			faxes := e.sim.Received()
			id := faxes[len(faxes)-1].ID
			deadline := time.Now().Add(10 * time.Second)
			tick := time.NewTicker(5 * time.Millisecond)
			for f, _ := e.sim.Fax(id); len(f.Callbacks) == 0 && time.Now().Before(deadline); f, _ = e.sim.Fax(id) {
				<-tick.C
			}
			tick.Stop()
		}
		defer func() {
			if r.Method == http.MethodPost {
				e.sendReturned.Add(1)
			}
		}()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func TestCallbackOvertakesSend(t *testing.T) {
	e := newEnv(t, options{apiWrap: callbackFirst})
	r := e.create(t, false)
	_, ds := e.waitStatus(t, r.ID, gateway.StatusReceived)
	d := ds[0]
	var f faxsim.Fax
	eventually(t, "the emulator's callback answered", func() bool {
		f = e.faxesFor(d.ID)[0]
		return len(f.Callbacks) == 1 && f.Callbacks[0].StatusCode == http.StatusOK
	})
	// The send's result came back after the receipt: the core keeps the
	// delivery delivered.
	eventually(t, "the send recorded", func() bool {
		return count(e.trail(t, clinicID), "delivery.sending", "delivery", d.ID) == 1 && e.sendReturned.Load() == 1
	})
	if _, ds = e.referral(t, r.ID); len(ds) != 1 || ds[0].State != gateway.DeliveryDelivered {
		t.Errorf("delivery %s", d.State)
	}
	if n := count(e.trail(t, clinicID), "fax.callback", "delivery", d.ID, "faxId", f.ID.String()); n != 1 {
		t.Errorf("callback audited %d times", n)
	}
}

// TestThrottledStatusPollWaitsAsAsked: while a sent fax waits for its
// callback, the core polls the vendor's status every ReceiptPollEvery; a
// poll the vendor answers 429 with Retry-After holds the next one for as
// long as it asked, but never past the receipt deadline, whose job asks
// once more before failing the delivery.
func TestThrottledStatusPollWaitsAsAsked(t *testing.T) {
	clock := storetest.NewManualClock(time.Now().UTC())
	var retryAfter atomic.Value
	throttle := func(e *env, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				w.Header().Set("Retry-After", retryAfter.Load().(string))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"success":false,"message":"slow down"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, options{clock: clock, callbackDelay: time.Hour, apiWrap: throttle})
	r := e.create(t, false)
	var d *gateway.Delivery
	eventually(t, "the fax sent", func() bool {
		_, ds := e.referral(t, r.ID)
		d = ds[0]
		return d.State == gateway.DeliverySent
	})
	poll := func() time.Duration {
		t.Helper()
		err := e.svc.HandleJob(t.Context(), gateway.Job{Kind: gateway.JobPollReceipt, DeliveryID: d.ID, Practice: clinicID}, gateway.JobMeta{})
		var snooze *gateway.SnoozeError
		if !errors.As(err, &snooze) {
			t.Fatalf("poll job: %v, want a snooze until the next poll", err)
		}
		return snooze.Delay
	}
	for _, c := range []struct {
		retryAfter string
		want       time.Duration
	}{
		{"900", 15 * time.Minute},                        // longer than the 2 min interval
		{"30", gateway.DefaultConfig().ReceiptPollEvery}, // shorter: the interval
		{"3600", channel.DefaultCallbackWithin},          // past the deadline: until the deadline
	} {
		retryAfter.Store(c.retryAfter)
		before := e.statusGets.Load()
		if got := poll(); got != c.want {
			t.Errorf("vendor Retry-After %s: next poll in %v, want %v", c.retryAfter, got, c.want)
		}
		if e.statusGets.Load() != before+1 {
			t.Errorf("vendor Retry-After %s: %d status requests, want 1", c.retryAfter, e.statusGets.Load()-before)
		}
	}
}
