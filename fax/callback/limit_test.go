package callback_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/callback"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/storetest"
)

// clockedCore is fakeCore on a clock the test moves.
type clockedCore struct {
	*fakeCore
	clock *storetest.ManualClock
}

func (c clockedCore) Clock() gateway.Clock { return c.clock }

// watchedBody records whether the handler read the request body.
type watchedBody struct {
	io.Reader
	read bool
}

func (b *watchedBody) Read(p []byte) (int, error) { b.read = true; return b.Reader.Read(p) }

func TestBadCallbacksThrottledBeforeAnythingIsWritten(t *testing.T) {
	clock := storetest.NewManualClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	core := clockedCore{&fakeCore{}, clock}
	h := callback.HandlerWith(core,
		callback.Config{CallbackURL: fuzzURL, Token: token, FailuresPerMinute: 6, FailureBurst: 5})
	post := func(from string, signed bool) (*httptest.ResponseRecorder, *watchedBody) {
		form := url.Values{"success": {"true"}, "direction": {"sent"}, "is_test": {"true"},
			"fax": {`{"id":123456,"direction":"sent","num_pages":3,"status":"success"}`}}
		body := &watchedBody{Reader: bytes.NewBufferString(form.Encode())}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, fuzzURL, body)
		req.RemoteAddr = net.JoinHostPort(from, "40000")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		sig := phaxio.SignCallback(fuzzURL, form, nil, []byte("a guessed token"))
		if signed {
			sig = phaxio.SignCallback(fuzzURL, form, nil, token)
		}
		req.Header.Set(phaxio.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec, body
	}
	for i := range 5 {
		if rec, _ := post("203.0.113.9", false); rec.Code != http.StatusUnauthorized {
			t.Fatalf("forged callback %d: %d, want 401", i+1, rec.Code)
		}
	}
	for i := range 50 {
		rec, body := post("203.0.113.9", false)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("forged callback %d past the allowance: %d, want 429", i+6, rec.Code)
		}
		if n, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || n < 1 {
			t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
		}
		if body.read {
			t.Fatal("a throttled callback's body was read")
		}
	}
	if receipts, _ := core.counts(); receipts != 0 {
		t.Fatalf("%d receipts from forged callbacks", receipts)
	}
	// The vendor, posting from its own address, is not held up.
	if rec, _ := post("198.51.100.20", true); rec.Code != http.StatusOK {
		t.Fatalf("the vendor's signed callback during the flood: %d", rec.Code)
	}
	// An IPv6 client's /64 is one client: moving to another address in it
	// buys no fresh allowance.
	for i := range 5 {
		if rec, _ := post(fmt.Sprintf("2001:db8:0:7::%x", i+1), false); rec.Code != http.StatusUnauthorized {
			t.Fatalf("forged callback %d from the /64: %d, want 401", i+1, rec.Code)
		}
	}
	if rec, body := post("2001:db8:0:7:ffff::99", false); rec.Code != http.StatusTooManyRequests || body.read {
		t.Fatalf("forged callback from a fresh address in the same /64: %d (body read %v), want 429 unread", rec.Code, body.read)
	}
	if rec, _ := post("2001:db8:0:8::1", false); rec.Code != http.StatusUnauthorized {
		t.Fatalf("forged callback from another /64: %d, want its own allowance (401)", rec.Code)
	}
	// The allowance comes back with time.
	clock.Advance(10 * time.Second)
	if rec, _ := post("203.0.113.9", false); rec.Code != http.StatusUnauthorized {
		t.Fatalf("after the wait: %d, want the signature checked again (401)", rec.Code)
	}
}
