package faxsim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/packet"
	"github.com/referralgw/gateway/fax/phaxio"
)

const (
	testKey    = "emu-key"
	testSecret = "emu-secret"
	okNumber   = "+15552345678"
)

var testToken = []byte("emu-callback-token")

// verified is what the test's callback endpoint made of one callback.
type verified struct {
	cb       *phaxio.Callback
	err      error
	emulator string
}

// env is an emulator behind a real HTTP server, a phaxio client pointed at
// it, and a callback endpoint that verifies signatures with token.
type env struct {
	sim         *Server
	api         *httptest.Server
	client      *phaxio.Client
	callbackURL string
	callbacks   chan verified
}

func newEnv(t *testing.T, cfg Config, verifyToken []byte) *env {
	t.Helper()
	e := &env{callbacks: make(chan verified, 16)}
	cbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb, err := phaxio.VerifyCallback(r, e.callbackURL, verifyToken)
		e.callbacks <- verified{cb: cb, err: err, emulator: r.Header.Get(EmulatorHeader)}
		if err != nil {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cbSrv.Close)
	e.callbackURL = cbSrv.URL + "/fax/callback?tenant=t1"

	cfg.APIKey, cfg.APISecret, cfg.CallbackToken = testKey, testSecret, testToken
	e.sim = New(cfg)
	e.api = httptest.NewServer(e.sim)
	t.Cleanup(e.api.Close)
	t.Cleanup(e.sim.Close)
	e.client = &phaxio.Client{BaseURL: e.api.URL, APIKey: testKey, APISecret: testSecret,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}}
	return e
}

// next waits for one callback, failing the test after a deadline.
func (e *env) next(t *testing.T) verified {
	t.Helper()
	select {
	case v := <-e.callbacks:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no callback within 10s")
		return verified{}
	}
}

func (e *env) send(t *testing.T, to, key string, data []byte) (phaxio.FaxID, error) {
	t.Helper()
	return e.client.Send(context.Background(), phaxio.SendRequest{
		To:             to,
		Files:          []phaxio.File{{Name: "referral.pdf", Data: data}},
		CallbackURL:    e.callbackURL,
		Tags:           map[string]string{"delivery_id": "dlv-" + key},
		IdempotencyKey: key,
	})
}

func renderPacket(t *testing.T) ([]byte, int) {
	t.Helper()
	pdf, err := packet.Render(packet.Packet{
		Date:      time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC),
		Sender:    packet.Sender{Practice: "Synthetic Practice", Provider: "Dr. Test Person", CallbackPhone: "(555) 234-0100"},
		Recipient: packet.Recipient{Name: "Synthetic Receiver", Fax: okNumber},
		Reason:    "Synthetic referral for emulator tests.",
		Records:   []packet.Record{{Title: "Note", MediaType: packet.MediaPlain, Data: []byte("Synthetic note.")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := packet.PageCount(pdf)
	if err != nil {
		t.Fatal(err)
	}
	return pdf, n
}

func TestSendSuccessWithSignedCallback(t *testing.T) {
	e := newEnv(t, Config{}, testToken)
	pdf, pages := renderPacket(t)
	id, err := e.send(t, okNumber, "k-ok", pdf)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	v := e.next(t)
	if v.err != nil {
		t.Fatalf("VerifyCallback: %v", v.err)
	}
	if v.emulator != "true" {
		t.Errorf("callback lacks %s: true", EmulatorHeader)
	}
	cb := v.cb
	if cb.FaxID != id || !cb.Success || cb.Status != phaxio.StatusSuccess || cb.NumPages != pages ||
		cb.Tags["delivery_id"] != "dlv-k-ok" || cb.Tags[phaxio.IdempotencyTag] != "k-ok" || !cb.IsTest || cb.Direction != "sent" {
		t.Errorf("callback = %+v", cb)
	}
	f, ok := e.sim.Fax(id)
	if !ok || len(f.Files) != 1 || !bytes.Equal(f.Files[0].Data, pdf) || f.Files[0].Name != "referral.pdf" {
		t.Fatalf("stored fax does not hold the sent PDF: ok=%v files=%d", ok, len(f.Files))
	}
	st, err := e.client.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Status != phaxio.StatusSuccess || st.NumPages != pages || st.ID != id {
		t.Errorf("Status = %+v", st)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		behavior Behavior
		errType  string
		code     int
		message  string
	}{
		{Busy, "lineError", CodeBusy, "Busy"},
		{NoAnswer, "lineError", CodeNoAnswer, "No answer"},
		{Fail, "faxError", CodeFailed, "failed"},
	}
	for _, tt := range tests {
		t.Run(string(tt.behavior), func(t *testing.T) {
			e := newEnv(t, Config{Behaviors: map[string]Behavior{okNumber: tt.behavior}}, testToken)
			pdf, _ := renderPacket(t)
			id, err := e.send(t, okNumber, "k", pdf)
			if err != nil {
				t.Fatalf("Send: %v (acceptance must succeed; failure comes by callback)", err)
			}
			v := e.next(t)
			if v.err != nil {
				t.Fatalf("VerifyCallback: %v", v.err)
			}
			cb := v.cb
			if cb.FaxID != id || cb.Success || cb.Status != phaxio.StatusFailure || cb.ErrorType != tt.errType ||
				cb.ErrorCode != tt.code || !strings.Contains(cb.ErrorMessage, tt.message) {
				t.Errorf("callback = %+v", cb)
			}
			if len(cb.Recipients) != 1 || cb.Recipients[0].PhoneNumber != okNumber || cb.Recipients[0].ErrorCode != tt.code {
				t.Errorf("recipients = %+v", cb.Recipients)
			}
			st, err := e.client.Status(context.Background(), id)
			if err != nil || st.Status != phaxio.StatusFailure || st.ErrorCode != tt.code {
				t.Errorf("Status = %+v, %v", st, err)
			}
		})
	}
}

func TestBusyThenSuccess(t *testing.T) {
	e := newEnv(t, Config{Behaviors: map[string]Behavior{okNumber: BusyThenSuccess}}, testToken)
	pdf, _ := renderPacket(t)
	want := []phaxio.Status{phaxio.StatusFailure, phaxio.StatusSuccess, phaxio.StatusSuccess}
	for i, status := range want {
		if _, err := e.send(t, okNumber, "attempt-"+string(rune('a'+i)), pdf); err != nil {
			t.Fatal(err)
		}
		v := e.next(t)
		if v.err != nil || v.cb.Status != status {
			t.Fatalf("attempt %d: callback %+v, %v; want status %s", i+1, v.cb, v.err, status)
		}
	}
}

func TestBadSignatureRefused(t *testing.T) {
	e := newEnv(t, Config{}, []byte("not-the-emulator-token"))
	pdf, _ := renderPacket(t)
	id, err := e.send(t, okNumber, "k", pdf)
	if err != nil {
		t.Fatal(err)
	}
	if v := e.next(t); !errors.Is(v.err, phaxio.ErrBadSignature) {
		t.Fatalf("VerifyCallback error = %v, want ErrBadSignature", v.err)
	}
	e.sim.Close() // wait for the callback result to be recorded
	f, _ := e.sim.Fax(id)
	if len(f.Callbacks) != 1 || f.Callbacks[0].StatusCode != http.StatusForbidden {
		t.Fatalf("recorded callbacks = %+v, want one answered 403", f.Callbacks)
	}
}

func TestVendorDownIsTemporary(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*env)
		to    string
	}{
		{"whole vendor down", func(e *env) { e.sim.SetUnavailable(true) }, okNumber},
		{"unavailable for one number", func(*env) {}, "+15553456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{Behaviors: map[string]Behavior{"+15553456789": Unavailable}}, testToken)
			tt.setup(e)
			_, err := e.send(t, tt.to, "k", []byte("%PDF"))
			var apiErr *phaxio.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable || !phaxio.IsTemporary(err) {
				t.Fatalf("Send error = %v, want temporary HTTP 503", err)
			}
			if !strings.Contains(err.Error(), "EMULATOR") {
				t.Errorf("error does not say it came from the emulator: %v", err)
			}
			if n := len(e.sim.Received()); n != 0 {
				t.Errorf("emulator stored %d faxes while down", n)
			}
		})
	}
}

func TestVendorRecovers(t *testing.T) {
	e := newEnv(t, Config{}, testToken)
	pdf, _ := renderPacket(t)
	e.sim.SetUnavailable(true)
	if _, err := e.send(t, okNumber, "k", pdf); !phaxio.IsTemporary(err) {
		t.Fatalf("while down: %v", err)
	}
	e.sim.SetUnavailable(false)
	if _, err := e.send(t, okNumber, "k", pdf); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestClientTimeoutIsTemporary(t *testing.T) {
	sim := New(Config{APIKey: testKey, APISecret: testSecret, CallbackToken: testToken})
	t.Cleanup(sim.Close)
	release := make(chan struct{})
	// The vendor stalls: the handler holds the request until the test ends.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	c := &phaxio.Client{BaseURL: slow.URL, APIKey: testKey, APISecret: testSecret,
		HTTPClient: &http.Client{Timeout: 300 * time.Millisecond}}
	_, err := c.Send(context.Background(), phaxio.SendRequest{To: okNumber, Files: []phaxio.File{{Data: []byte("%PDF")}}})
	if err == nil || !phaxio.IsTemporary(err) {
		t.Fatalf("Send error = %v, want a temporary timeout", err)
	}
}

func TestIdempotentResubmission(t *testing.T) {
	e := newEnv(t, Config{}, testToken)
	pdf, _ := renderPacket(t)
	id1, err := e.send(t, okNumber, "same-key", pdf)
	if err != nil {
		t.Fatal(err)
	}
	if v := e.next(t); v.err != nil || v.cb.FaxID != id1 {
		t.Fatalf("first callback: %+v %v", v.cb, v.err)
	}
	id2, err := e.send(t, okNumber, "same-key", pdf)
	if err != nil {
		t.Fatal(err)
	}
	if id2 != id1 {
		t.Fatalf("resubmission got fax id %d, want the first id %d", id2, id1)
	}
	id3, err := e.send(t, okNumber, "other-key", pdf)
	if err != nil || id3 == id1 {
		t.Fatalf("a different key must create a new fax: id %d, %v", id3, err)
	}
	e.next(t)     // the callback of the third fax
	e.sim.Close() // every callback has been posted once Close returns
	got := e.sim.Received()
	if len(got) != 2 {
		t.Fatalf("emulator holds %d faxes, want 2", len(got))
	}
	if got[0].Submissions != 2 || len(got[0].Callbacks) != 1 {
		t.Errorf("first fax: submissions %d, callbacks %d; want 2 and 1", got[0].Submissions, len(got[0].Callbacks))
	}
	select {
	case v := <-e.callbacks:
		t.Errorf("unexpected extra callback for fax %d", v.cb.FaxID)
	default:
	}
}

func TestAPIRefusals(t *testing.T) {
	e := newEnv(t, Config{}, testToken)
	tests := []struct {
		name   string
		client *phaxio.Client
		req    phaxio.SendRequest
		code   int
	}{
		{"wrong secret", &phaxio.Client{BaseURL: e.api.URL, APIKey: testKey, APISecret: "wrong"},
			phaxio.SendRequest{To: okNumber, Files: []phaxio.File{{Data: []byte("%PDF")}}}, http.StatusUnauthorized},
		{"not E.164", e.client, phaxio.SendRequest{To: "555-234-5678", Files: []phaxio.File{{Data: []byte("%PDF")}}}, http.StatusUnprocessableEntity},
		{"unreadable PDF", e.client, phaxio.SendRequest{To: okNumber, Files: []phaxio.File{{Name: "x.pdf", Data: []byte("%PDF")}}}, http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Send(context.Background(), tt.req)
			var apiErr *phaxio.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.code || phaxio.IsTemporary(err) {
				t.Fatalf("Send error = %v, want permanent HTTP %d", err, tt.code)
			}
		})
	}
	if _, err := e.client.Status(context.Background(), 424242); err == nil || phaxio.IsTemporary(err) {
		t.Errorf("Status of unknown fax: %v", err)
	}
}

func TestEveryResponseSaysEmulator(t *testing.T) {
	e := newEnv(t, Config{}, testToken)
	for _, path := range []string{"/v2.1/faxes", "/v2.1/faxes/1", "/nope"} {
		for _, auth := range []bool{false, true} {
			req, _ := http.NewRequest(http.MethodGet, e.api.URL+path, nil)
			if auth {
				req.SetBasicAuth(testKey, testSecret)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Header.Get(EmulatorHeader) != "true" || !bytes.Contains(body, []byte("EMULATOR")) {
				t.Errorf("GET %s (auth %v): header %q body %s", path, auth, resp.Header.Get(EmulatorHeader), body)
			}
		}
	}
}

// FuzzServeHTTP posts arbitrary bodies to the emulator: it must answer
// with a JSON reply marked as the emulator's and never panic.
func FuzzServeHTTP(f *testing.F) {
	f.Add("multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n+15552345678\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B--\r\n")
	f.Add("application/x-www-form-urlencoded", "to=%2B15552345678")
	f.Add("multipart/form-data", "")
	sim := New(Config{APIKey: testKey, APISecret: testSecret, CallbackToken: testToken})
	f.Cleanup(sim.Close)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v2.1/faxes", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.SetBasicAuth(testKey, testSecret)
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, r)
		if w.Header().Get(EmulatorHeader) != "true" || !strings.Contains(w.Body.String(), "EMULATOR") {
			t.Fatalf("reply %d %q lacks the emulator marks", w.Code, w.Body.String())
		}
	})
}

func TestCloseCancelsDelayedCallbacks(t *testing.T) {
	e := newEnv(t, Config{CallbackDelay: time.Hour}, testToken)
	id, err := e.client.Send(context.Background(), phaxio.SendRequest{
		To:          okNumber,
		Files:       []phaxio.File{{Name: "note.txt", ContentType: "text/plain", Data: []byte("counted as one page")}},
		CallbackURL: e.callbackURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.client.Status(context.Background(), id)
	if err != nil || st.Status != phaxio.StatusQueued || st.NumPages != 1 {
		t.Fatalf("Status before the callback = %+v, %v; want queued, 1 page", st, err)
	}
	e.sim.Close()
	f, _ := e.sim.Fax(id)
	if len(f.Callbacks) != 0 || f.Status != phaxio.StatusQueued {
		t.Fatalf("after Close: status %s, callbacks %+v; want queued and none", f.Status, f.Callbacks)
	}
}
