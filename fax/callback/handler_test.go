package callback_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/referralgw/gateway/fax/callback"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

// signed builds a correctly signed callback request for url.
func signed(t *testing.T, target string, key []byte, form url.Values) *http.Request {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(phaxio.SignatureHeader, phaxio.SignCallback(target, form, nil, key))
	return req
}

func busyForm(faxID string) url.Values {
	return url.Values{"success": {"false"}, "direction": {"sent"}, "is_test": {"true"},
		"fax": {`{"id":` + faxID + `,"status":"failure","num_pages":0,"error_type":"lineError","error_code":34,"error_message":"Busy"}`}}
}

func TestHandlerStatuses(t *testing.T) {
	cases := []struct {
		name     string
		cfg      callback.Config
		req      func(t *testing.T) *http.Request
		want     int
		receipts int
	}{
		{"busy callback applied", callback.Config{CallbackURL: fuzzURL, Token: token},
			func(t *testing.T) *http.Request { return signed(t, fuzzURL, token, busyForm("123456")) }, http.StatusOK, 1},
		{"GET refused", callback.Config{CallbackURL: fuzzURL, Token: token},
			func(t *testing.T) *http.Request {
				return httptest.NewRequestWithContext(t.Context(), http.MethodGet, fuzzURL, nil)
			}, http.StatusMethodNotAllowed, 0},
		{"empty token never verifies", callback.Config{CallbackURL: fuzzURL},
			func(t *testing.T) *http.Request { return signed(t, fuzzURL, nil, busyForm("123456")) }, http.StatusInternalServerError, 0},
		{"no URL configured", callback.Config{Token: token},
			func(t *testing.T) *http.Request { return signed(t, fuzzURL, token, busyForm("123456")) }, http.StatusInternalServerError, 0},
		{"unknown fax", callback.Config{CallbackURL: fuzzURL, Token: token},
			func(t *testing.T) *http.Request { return signed(t, fuzzURL, token, busyForm("42")) }, http.StatusNotFound, 0},
		{"oversized body", callback.Config{CallbackURL: fuzzURL, Token: token, MaxBody: 64},
			func(t *testing.T) *http.Request { return signed(t, fuzzURL, token, busyForm("123456")) }, http.StatusBadRequest, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			core := &fakeCore{}
			h := callback.HandlerWith(core, c.cfg)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, c.req(t))
			if rec.Code != c.want {
				t.Errorf("status %d, want %d", rec.Code, c.want)
			}
			if got, _ := core.counts(); got != c.receipts {
				t.Errorf("%d receipts reached the core, want %d", got, c.receipts)
			}
			if len(core.receipts) == 1 && (!core.receipts[0].Retryable || core.receipts[0].Kind != gateway.ReceiptFailed) {
				t.Errorf("receipt %+v, want a retryable failure", core.receipts[0])
			}
		})
	}
}

// TestFailedReceiptIsNotRemembered: when the core cannot record a receipt,
// the vendor's retry of the same callback must still be applied.
func TestFailedReceiptIsNotRemembered(t *testing.T) {
	core := &fakeCore{fail: errors.New("database is locked")}
	h := callback.HandlerWith(core, callback.Config{CallbackURL: fuzzURL, Token: token})
	for i, want := range []int{http.StatusInternalServerError, http.StatusOK, http.StatusOK} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed(t, fuzzURL, token, busyForm("123456")))
		if rec.Code != want {
			t.Errorf("post %d: status %d, want %d", i+1, rec.Code, want)
		}
	}
	if n, _ := core.counts(); n != 1 {
		t.Errorf("%d receipts recorded, want 1 (the retry, then a replay)", n)
	}
	var outcomes []string
	for _, ev := range core.audits {
		outcomes = append(outcomes, ev.Action+"/"+ev.Outcome)
	}
	if got := strings.Join(outcomes, " "); got != "fax.callback/failure fax.callback/success" {
		t.Errorf("audit trail: %s", got)
	}
	// The replay goes to the aggregated record, in the referral's trails.
	if len(core.edges) != 1 || core.edges[0].Action != "fax.callback.replay" || core.edges[0].ReferralID == "" ||
		len(core.edges[0].Tenants) == 0 {
		t.Errorf("edge events: %+v, want the replay tied to the referral", core.edges)
	}
}
