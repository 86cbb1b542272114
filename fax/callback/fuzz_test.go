package callback_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fax/callback"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

// fakeCore stands in for the service in the fuzz target: one fax delivery
// (fax 123456, delivery d-1) exists, everything else is unknown.
type fakeCore struct {
	mu       sync.Mutex
	fail     error           // RecordReceiptOnce fails with it once, when set
	seen     map[string]bool // replay keys, per delivery
	receipts []gateway.Receipt
	audits   []audit.Event
	edges    []gateway.EdgeEvent
	reads    int // lookups of deliveries and referrals
}

var fuzzDelivery = gateway.Delivery{ID: "d-1", ReferralID: "r-1", Channel: gateway.ChannelFax, State: gateway.DeliverySent, RemoteID: "123456"}

func (c *fakeCore) read() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
}

func (c *fakeCore) DeliveryByRemoteID(_ context.Context, ch gateway.ChannelKind, id string) (*gateway.Delivery, error) {
	c.read()
	if ch == gateway.ChannelFax && id == fuzzDelivery.RemoteID {
		d := fuzzDelivery
		return &d, nil
	}
	return nil, fmt.Errorf("delivery %s: %w", id, gateway.ErrNotFound)
}

func (c *fakeCore) Delivery(_ context.Context, id string) (*gateway.Delivery, error) {
	c.read()
	if id == fuzzDelivery.ID {
		d := fuzzDelivery
		return &d, nil
	}
	return nil, fmt.Errorf("delivery %s: %w", id, gateway.ErrNotFound)
}

func (c *fakeCore) Referral(_ context.Context, id string) (*gateway.Referral, []*gateway.Delivery, error) {
	c.read()
	return &gateway.Referral{ID: id, Requester: gateway.Requester{OrgID: clinicID}, ReceiverOrgID: "cardio-org"}, nil, nil
}

func (c *fakeCore) RecordReceiptOnce(_ context.Context, k gateway.KeyedReceipt) (bool, *gateway.Delivery, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fail; err != nil {
		c.fail = nil
		return false, nil, err
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if c.seen[k.DeliveryID+"|"+k.Key] {
		return false, nil, nil
	}
	if k.Audit != nil {
		if err := k.Audit.Validate(); err != nil {
			return false, nil, err
		}
		c.audits = append(c.audits, *k.Audit)
	}
	c.seen[k.DeliveryID+"|"+k.Key] = true
	c.receipts = append(c.receipts, k.Receipt)
	d := fuzzDelivery
	return true, &d, nil
}

func (c *fakeCore) RecordAudit(_ context.Context, ev audit.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.audits = append(c.audits, ev)
	return nil
}

func (c *fakeCore) RecordEdge(_ context.Context, ev gateway.EdgeEvent) error {
	if ev.Action == "" || ev.Reason == "" {
		return fmt.Errorf("edge event %+v: action and reason are required", ev)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.edges = append(c.edges, ev)
	return nil
}

func (c *fakeCore) Clock() gateway.Clock { return gateway.SystemClock{} }

// counts reports the receipts and the events recorded, in a trail or as
// edge events: every post is recorded exactly once, one way or the other.
func (c *fakeCore) counts() (receipts, audits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.receipts), len(c.audits) + len(c.edges)
}

// Signature modes of the fuzz input.
const (
	sigNone   = iota // no X-Phaxio-Signature header
	sigWrong         // signed with another token
	sigValid         // signed with our token: the body is parsed
	sigRawBad        // the raw bytes as the body, with a made-up signature
	sigModes
)

const fuzzURL = "https://gateway.example/fax/callback"

// FuzzCallback feeds the handler callbacks with arbitrary fields, signed
// or not, and arbitrary raw bodies. Whatever arrives, the handler answers
// one of its documented codes, only a correctly signed callback reaches the
// core, a signed callback is applied at most once, and every request is
// audited.
func FuzzCallback(f *testing.F) {
	okFax := `{"id":123456,"direction":"sent","num_pages":3,"status":"success","is_test":true,"tags":{"delivery":"d-1"}}`
	for mode := range sigModes {
		f.Add(uint8(mode), "true", "sent", okFax, []byte(nil))
	}
	f.Add(uint8(sigValid), "false", "sent", `{"id":123456,"status":"failure","error_type":"lineError","error_code":34,"error_message":"Busy"}`, []byte(nil))
	f.Add(uint8(sigValid), "true", "sent", `{"id":99,"status":"success","tags":{"delivery":"d-1","idempotency_key":"d-1"}}`, []byte(nil))
	f.Add(uint8(sigValid), "true", "received", okFax, []byte(nil))
	f.Add(uint8(sigValid), "true", "sent", `{"id":"seven"}`, []byte(nil))
	f.Add(uint8(sigValid), "true", "sent", `{"id":123456,"status":"queued"}`, []byte(nil))
	f.Add(uint8(sigValid), "", "", "", []byte(nil))
	f.Add(uint8(sigRawBad), "", "", "", []byte("--b\r\nContent-Disposition: form-data; name=\"fax\"\r\n\r\n{}\r\n--b--\r\n"))
	f.Add(uint8(sigRawBad), "", "", "", []byte("\x00\xff--"))

	f.Fuzz(func(t *testing.T, mode uint8, success, direction, fax string, raw []byte) {
		mode %= sigModes
		c := &fakeCore{}
		h := callback.HandlerWith(c, callback.Config{CallbackURL: fuzzURL, Token: token})
		form := url.Values{"success": {success}, "direction": {direction}, "fax": {fax}, "is_test": {"true"}}
		build := func() *http.Request {
			var body bytes.Buffer
			contentType := "multipart/form-data; boundary=b"
			if mode == sigRawBad {
				body.Write(raw)
			} else {
				mw := multipart.NewWriter(&body)
				for _, k := range []string{"success", "direction", "fax", "is_test"} {
					if err := mw.WriteField(k, form.Get(k)); err != nil {
						t.Fatal(err)
					}
				}
				if err := mw.Close(); err != nil {
					t.Fatal(err)
				}
				contentType = mw.FormDataContentType()
			}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, fuzzURL, &body)
			req.Header.Set("Content-Type", contentType)
			switch mode {
			case sigWrong:
				req.Header.Set(phaxio.SignatureHeader, phaxio.SignCallback(fuzzURL, form, nil, []byte("another-token")))
			case sigValid:
				req.Header.Set(phaxio.SignatureHeader, phaxio.SignCallback(fuzzURL, form, nil, token))
			case sigRawBad:
				req.Header.Set(phaxio.SignatureHeader, "00112233445566778899aabbccddeeff00112233")
			}
			return req
		}
		allowed := map[uint8][]int{
			sigNone:   {http.StatusUnauthorized},
			sigWrong:  {http.StatusUnauthorized},
			sigRawBad: {http.StatusUnauthorized, http.StatusBadRequest},
			sigValid:  {http.StatusOK, http.StatusBadRequest, http.StatusNotFound},
		}[mode]
		// The same callback twice: the second is a replay.
		for i := range 2 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, build())
			ok := false
			for _, code := range allowed {
				ok = ok || rec.Code == code
			}
			if !ok {
				t.Fatalf("mode %d, post %d: status %d, want one of %v", mode, i+1, rec.Code, allowed)
			}
			receipts, audits := c.counts()
			if audits != i+1 {
				t.Fatalf("mode %d, post %d: %d audit events", mode, i+1, audits)
			}
			if receipts > 1 || (receipts > 0 && mode != sigValid) {
				t.Fatalf("mode %d, post %d: %d receipts reached the core", mode, i+1, receipts)
			}
		}
	})
}
