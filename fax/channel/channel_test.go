package channel_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
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
)

func TestNewRequiresVendorAndCallback(t *testing.T) {
	cases := []struct {
		name string
		cfg  channel.Config
		want string
	}{
		{"no vendor", channel.Config{CallbackURL: "https://gw.example/fax/callback"}, "vendor is required"},
		{"no callback", channel.Config{Vendor: channel.Phaxio{Client: &phaxio.Client{}}}, "callback URL is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := channel.New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v, want %q", err, c.want)
			}
		})
	}
}

func TestReachable(t *testing.T) {
	ch := newChannel(t, "http://127.0.0.1:1", "https://gw.example/fax/callback")
	unverified := receiver(faxNumber)
	unverified.Verification = nil
	cases := []struct {
		name  string
		entry *gateway.Entry
		want  string // "" when reachable
	}{
		{"verified E.164", receiver(faxNumber), ""},
		{"verified, written locally", receiver("(555) 555-0123"), ""},
		{"no fax endpoint", verified(&gateway.Entry{ID: "x", Name: "No Fax"}), "no fax number"},
		{"empty number", receiver(""), "no fax number"},
		{"not verified", unverified, "fax number not verified"},
		{"outside NANP", receiver("+442071234567"), "unusable"},
		{"area code starts with 1", receiver("+11555550123"), "unusable"},
		{"N11 code", receiver("+14115550123"), "unusable"},
		{"letters", receiver("555-FAX-0123"), "unusable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ch.Reachable(t.Context(), c.entry)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unreachable: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Reachable = %v, want %q", err, c.want)
			}
		})
	}
}

func TestSendToEmulator(t *testing.T) {
	sim, ch := emulator(t, faxsim.Config{})
	out := outbound(t, "del-0001", true, true)
	res, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := sim.Fax(mustID(t, res.RemoteID))
	if !ok {
		t.Fatalf("emulator has no fax %s", res.RemoteID)
	}
	pages, err := packet.PageCount(f.Files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if res.Detail != "queued, "+strconv.Itoa(pages)+" pages" || res.AwaitReceipt != channel.DefaultCallbackWithin || res.Delivered {
		t.Errorf("result %+v (packet %d pages)", res, pages)
	}
	if pages != f.NumPages || pages < 4 {
		t.Errorf("packet %d pages, emulator counted %d", pages, f.NumPages)
	}
	want := map[string]string{phaxio.IdempotencyTag: "del-0001", channel.TagDelivery: "del-0001", channel.TagReferral: "ref-0001"}
	for k, v := range want {
		if f.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, f.Tags[k], v)
		}
	}
	if f.To != faxNumber || !strings.HasSuffix(f.CallbackURL, "/fax/callback") || f.Files[0].ContentType != "application/pdf" {
		t.Errorf("fax to %s, callback %s, type %s", f.To, f.CallbackURL, f.Files[0].ContentType)
	}
	// The same delivery again is the same fax.
	again, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	if again.RemoteID != res.RemoteID || len(sim.Received()) != 1 {
		t.Errorf("resend: fax %s (first %s), %d faxes at the vendor", again.RemoteID, res.RemoteID, len(sim.Received()))
	}
}

func mustID(t *testing.T, s string) phaxio.FaxID {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("fax id %q: %v", s, err)
	}
	return phaxio.FaxID(n)
}

// TestSendClassification checks which vendor replies the core may retry.
func TestSendClassification(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		permanent bool
	}{
		{"invalid number 422", http.StatusUnprocessableEntity, `{"success":false,"message":"invalid number"}`, true},
		{"bad credentials 401", http.StatusUnauthorized, `{"success":false,"message":"unauthorized"}`, true},
		{"rate limited 429", http.StatusTooManyRequests, `{"success":false,"message":"slow down"}`, false},
		{"outage 503", http.StatusServiceUnavailable, `{"success":false,"message":"down"}`, false},
		{"server error 500", http.StatusInternalServerError, `oops`, false},
		{"garbled 200", http.StatusOK, `{"success":tru`, false},
		{"refused in a 200", http.StatusOK, `{"success":false,"message":"no credit"}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			t.Cleanup(srv.Close)
			ch := newChannel(t, srv.URL, "https://gw.example/fax/callback")
			_, err := ch.Send(t.Context(), outbound(t, "del-1", false, false))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := gateway.IsPermanent(err); got != c.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, c.permanent, err)
			}
			if calls.Load() != 1 {
				t.Errorf("vendor called %d times", calls.Load())
			}
		})
	}
	t.Run("vendor unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		_, err := newChannel(t, url, "https://gw.example/fax/callback").Send(t.Context(), outbound(t, "del-1", false, false))
		if err == nil || gateway.IsPermanent(err) {
			t.Errorf("Send = %v, want a temporary error", err)
		}
	})
}

// TestSendRefusedBeforeVendor covers sends that cannot succeed: they are
// permanent and nothing reaches the vendor.
func TestSendRefusedBeforeVendor(t *testing.T) {
	cases := []struct {
		name   string
		change func(*gateway.Outbound)
		want   string
	}{
		{"unsupported record", func(o *gateway.Outbound) {
			o.Records = append(o.Records, gateway.RecordContent{Record: gateway.Record{Title: "Archive", ContentType: "application/zip"}, Content: []byte("PK")})
		}, "unsupported media type"},
		{"broken PDF record", func(o *gateway.Outbound) {
			o.Records = append(o.Records, gateway.RecordContent{Record: gateway.Record{Title: "Scan", ContentType: "application/pdf"}, Content: []byte("%PDF-1.4 not really")})
		}, "render packet"},
		{"no callback phone", func(o *gateway.Outbound) { o.Referral.Requester.Phone = "" }, "callback phone"},
		{"unverified number", func(o *gateway.Outbound) { o.Receiver.Verification = nil }, "not verified"},
		{"no delivery", func(o *gateway.Outbound) { o.Delivery = nil }, "incomplete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sim, ch := emulator(t, faxsim.Config{})
			out := outbound(t, "del-1", false, false)
			c.change(out)
			_, err := ch.Send(t.Context(), out)
			if !gateway.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Send = %v, want a permanent error naming %q", err, c.want)
			}
			if n := len(sim.Received()); n != 0 {
				t.Errorf("vendor received %d faxes", n)
			}
		})
	}
}

func TestPollReceipt(t *testing.T) {
	cases := []struct {
		behavior  faxsim.Behavior
		kind      gateway.ReceiptKind
		retryable bool
		detail    string
	}{
		{faxsim.Success, gateway.ReceiptFaxSuccess, false, " pages"},
		{faxsim.Busy, gateway.ReceiptFailed, true, "lineError/" + strconv.Itoa(faxsim.CodeBusy)},
		{faxsim.NoAnswer, gateway.ReceiptFailed, true, "lineError/" + strconv.Itoa(faxsim.CodeNoAnswer)},
		{faxsim.Fail, gateway.ReceiptFailed, false, "faxError/" + strconv.Itoa(faxsim.CodeFailed)},
	}
	for _, c := range cases {
		t.Run(string(c.behavior), func(t *testing.T) {
			sim, ch := emulator(t, faxsim.Config{Behaviors: map[string]faxsim.Behavior{faxNumber: c.behavior}})
			res, err := ch.Send(t.Context(), outbound(t, "del-1", false, false))
			if err != nil {
				t.Fatal(err)
			}
			d := &gateway.Delivery{ID: "del-1", Channel: gateway.ChannelFax, RemoteID: res.RemoteID}
			waitFinal(t, sim, mustID(t, res.RemoteID))
			rc, err := ch.PollReceipt(t.Context(), d)
			if err != nil {
				t.Fatal(err)
			}
			if rc.Kind != c.kind || !rc.Final || rc.Retryable != c.retryable || !strings.Contains(rc.Detail, c.detail) {
				t.Errorf("receipt %+v, want %s retryable=%v detail containing %q", rc, c.kind, c.retryable, c.detail)
			}
		})
	}
	t.Run("still queued", func(t *testing.T) {
		_, ch := emulator(t, faxsim.Config{CallbackDelay: time.Hour})
		res, err := ch.Send(t.Context(), outbound(t, "del-1", false, false))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ch.PollReceipt(t.Context(), &gateway.Delivery{ID: "del-1", RemoteID: res.RemoteID})
		if !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("PollReceipt = %v, want ErrNotFound", err)
		}
	})
	t.Run("unknown fax", func(t *testing.T) {
		_, ch := emulator(t, faxsim.Config{})
		_, err := ch.PollReceipt(t.Context(), &gateway.Delivery{ID: "del-1", RemoteID: "424242"})
		if err == nil || errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("PollReceipt = %v, want the vendor's refusal", err)
		}
	})
	t.Run("no fax id", func(t *testing.T) {
		_, ch := emulator(t, faxsim.Config{})
		_, err := ch.PollReceipt(t.Context(), &gateway.Delivery{ID: "del-1"})
		if !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("PollReceipt = %v, want ErrNotFound", err)
		}
	})
}

// waitFinal polls the emulator until the fax has its outcome.
func waitFinal(t *testing.T, sim *faxsim.Server, id phaxio.FaxID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f, _ := sim.Fax(id); f.Status.Final() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fax %s never completed", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
