package callback_test

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/callback"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestRepeatsAnsweredWithoutReads: a captured signed callback posted again
// and again is answered as before (200, counted in the aggregated edge
// record) without reading the database each time; what may change (a 404
// for a fax not known yet) is looked up every time; after a while a repeat
// is looked up once more.
func TestRepeatsAnsweredWithoutReads(t *testing.T) {
	clock := storetest.NewManualClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	core := clockedCore{&fakeCore{}, clock}
	h := callback.HandlerWith(core, callback.Config{CallbackURL: fuzzURL, Token: token})
	post := func(faxID, status string) int {
		form := url.Values{"success": {"true"}, "direction": {"sent"}, "is_test": {"true"},
			"fax": {`{"id":` + faxID + `,"direction":"sent","num_pages":3,"status":"` + status + `"}`}}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, fuzzURL, bytes.NewBufferString(form.Encode()))
		req.RemoteAddr = net.JoinHostPort("203.0.113.50", "40000")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(phaxio.SignatureHeader, phaxio.SignCallback(fuzzURL, form, nil, token))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	reads := func() int {
		core.mu.Lock()
		defer core.mu.Unlock()
		return core.reads
	}
	edges := func(action string) int {
		core.mu.Lock()
		defer core.mu.Unlock()
		n := 0
		for _, ev := range core.edges {
			if ev.Action == action {
				n++
			}
		}
		return n
	}

	if code := post("123456", "success"); code != http.StatusOK {
		t.Fatalf("the vendor's callback: %d", code)
	}
	applied := reads()
	const replays = 50
	for i := range replays {
		if code := post("123456", "success"); code != http.StatusOK {
			t.Fatalf("replay %d: %d, want 200", i+1, code)
		}
	}
	if got := reads() - applied; got != 0 {
		t.Errorf("%d replays read the database %d times, want none", replays, got)
	}
	if got := edges("fax.callback.replay"); got != replays {
		t.Errorf("%d replays recorded, want %d", got, replays)
	}
	if receipts, _ := core.counts(); receipts != 1 {
		t.Errorf("%d receipts, want 1", receipts)
	}

	// Progress: the first post is looked up, its repeats are not.
	before := reads()
	for range 10 {
		if code := post("123456", "inprogress"); code != http.StatusOK {
			t.Fatalf("progress: %d", code)
		}
	}
	if got := reads() - before; got == 0 || got > 2 {
		t.Errorf("10 posts of one progress report read %d times, want the first post's lookups only", got)
	}
	if got := edges("fax.callback.progress"); got != 10 {
		t.Errorf("%d progress posts recorded, want 10", got)
	}

	// A fax not known (yet) is looked up every time.
	before = reads()
	for range 3 {
		if code := post("999", "success"); code != http.StatusNotFound {
			t.Fatalf("unknown fax: %d, want 404", code)
		}
	}
	if got := reads() - before; got < 3 {
		t.Errorf("3 posts for an unknown fax read %d times, want each looked up", got)
	}

	// Remembered for a while only.
	clock.Advance(time.Hour)
	before = reads()
	if code := post("123456", "success"); code != http.StatusOK {
		t.Fatalf("replay an hour later: %d", code)
	}
	if reads() == before {
		t.Error("a replay an hour later was answered from memory")
	}
	if receipts, _ := core.counts(); receipts != 1 {
		t.Errorf("%d receipts after the late replay, want 1", receipts)
	}
}
