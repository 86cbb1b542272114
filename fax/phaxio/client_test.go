package phaxio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	testKey    = "synthetic-key"
	testSecret = "synthetic-secret-do-not-leak"
)

// recorded is what the fake Phaxio saw of a send request.
type recorded struct {
	user, pass string
	to         string
	callback   string
	tags       map[string]string
	tagCounts  map[string]int
	files      map[string][]string // form field → file names
	contents   []string
}

func fakePhaxio(t *testing.T, status int, reply string, rec *recorded) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec != nil && r.Method == http.MethodPost {
			rec.user, rec.pass, _ = r.BasicAuth()
			if err := r.ParseMultipartForm(1 << 20); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rec.to = r.FormValue("to")
			rec.callback = r.FormValue("callback_url")
			rec.tags = map[string]string{}
			rec.tagCounts = map[string]int{}
			for k, v := range r.MultipartForm.Value {
				if strings.HasPrefix(k, "tag[") && strings.HasSuffix(k, "]") {
					rec.tags[k[4:len(k)-1]] = v[0]
					rec.tagCounts[k[4:len(k)-1]] = len(v)
				}
			}
			rec.files = map[string][]string{}
			for field, fhs := range r.MultipartForm.File {
				for _, fh := range fhs {
					rec.files[field] = append(rec.files[field], fh.Filename)
					f, _ := fh.Open()
					b, _ := io.ReadAll(f)
					f.Close()
					rec.contents = append(rec.contents, string(b))
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testClient(base string) *Client {
	return &Client{BaseURL: base, APIKey: testKey, APISecret: testSecret, HTTPClient: &http.Client{Timeout: 5 * time.Second}}
}

func TestSendEncodesRequest(t *testing.T) {
	var rec recorded
	srv := fakePhaxio(t, http.StatusOK, `{"success":true,"message":"Fax queued for sending","data":{"id":4321}}`, &rec)
	id, err := testClient(srv.URL).Send(context.Background(), SendRequest{
		To:             "+15552345678",
		Files:          []File{{Name: "packet.pdf", Data: []byte("%PDF-A")}, {Name: "extra.pdf", Data: []byte("%PDF-B")}},
		CallbackURL:    "https://gw.example.test/cb",
		Tags:           map[string]string{"delivery_id": "dlv-9", IdempotencyTag: "stale"},
		IdempotencyKey: "idem-9",
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rec.tagCounts[IdempotencyTag] != 1 {
		t.Errorf("idempotency tag sent %d times, want once", rec.tagCounts[IdempotencyTag])
	}
	if id != 4321 {
		t.Errorf("id = %d, want 4321", id)
	}
	if rec.user != testKey || rec.pass != testSecret {
		t.Errorf("basic auth = %q/%q", rec.user, rec.pass)
	}
	if rec.to != "+15552345678" || rec.callback != "https://gw.example.test/cb" {
		t.Errorf("to=%q callback=%q", rec.to, rec.callback)
	}
	if rec.tags["delivery_id"] != "dlv-9" || rec.tags[IdempotencyTag] != "idem-9" {
		t.Errorf("tags = %v", rec.tags)
	}
	if got := fmt.Sprint(rec.files["file[]"]); got != "[packet.pdf extra.pdf]" {
		t.Errorf("file[] parts = %s", got)
	}
	if got := strings.Join(rec.contents, ","); got != "%PDF-A,%PDF-B" {
		t.Errorf("file contents = %q", got)
	}
}

func TestSendSingleFileUsesFileField(t *testing.T) {
	var rec recorded
	srv := fakePhaxio(t, http.StatusOK, `{"success":true,"message":"ok","data":{"id":1}}`, &rec)
	if _, err := testClient(srv.URL).Send(context.Background(), SendRequest{To: "+15552345678", Files: []File{{Data: []byte("%PDF")}}}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rec.files["file"]); got != "[document-1.pdf]" {
		t.Fatalf("file parts = %s (all: %v)", got, rec.files)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		reply         string
		wantTemporary bool
		wantMessage   string
	}{
		{"422 invalid number", 422, `{"success":false,"message":"Phone number is not formatted correctly"}`, false, "Phone number is not formatted correctly"},
		{"401 bad credentials", 401, `{"success":false,"message":"Invalid API credentials"}`, false, "Invalid API credentials"},
		{"429 rate limited", 429, `{"success":false,"message":"Rate limit exceeded"}`, true, "Rate limit exceeded"},
		{"500 with JSON", 500, `{"success":false,"message":"Internal error"}`, true, "Internal error"},
		{"503 with HTML", 503, `<html>down</html>`, true, "Service Unavailable"},
		{"200 success false", 200, `{"success":false,"message":"Account has no funds"}`, false, "Account has no funds"},
		{"200 not JSON", 200, `<html>`, true, "decode reply"},
		{"200 no id", 200, `{"success":true,"message":"ok","data":{}}`, true, "no fax id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakePhaxio(t, tt.status, tt.reply, nil)
			_, err := testClient(srv.URL).Send(context.Background(), SendRequest{To: "+15552345678", Files: []File{{Data: []byte("%PDF")}}})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if IsTemporary(err) != tt.wantTemporary {
				t.Errorf("IsTemporary(%v) = %v, want %v", err, IsTemporary(err), tt.wantTemporary)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %q does not contain %q", err, tt.wantMessage)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the API secret: %v", err)
			}
		})
	}
}

func TestSendRefusesEmptyRequest(t *testing.T) {
	c := testClient("http://127.0.0.1:1")
	if _, err := c.Send(context.Background(), SendRequest{Files: []File{{Data: []byte("x")}}}); err == nil || IsTemporary(err) {
		t.Errorf("no recipient: err = %v", err)
	}
	if _, err := c.Send(context.Background(), SendRequest{To: "+15552345678"}); err == nil || IsTemporary(err) {
		t.Errorf("no file: err = %v", err)
	}
}

func TestSendNetworkErrorsAreTemporary(t *testing.T) {
	// A listener that accepts and never answers: the client times out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	// A port with nothing listening: connection refused.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name string
		base string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"timeout", "http://" + ln.Addr().String(), func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}},
		{"connection refused", "http://" + refusedAddr, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			_, err := testClient(tt.base).Send(ctx, SendRequest{To: "+15552345678", Files: []File{{Data: []byte("%PDF")}}})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if !IsTemporary(err) {
				t.Errorf("IsTemporary(%v) = false", err)
			}
			var te *TransportError
			if !errors.As(err, &te) || te.Op != "send" {
				t.Errorf("error %v is not a send TransportError", err)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the API secret: %v", err)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	reply := `{"success":true,"message":"Retrieved fax successfully","data":{"id":555,"direction":"sent",` +
		`"num_pages":4,"status":"failure","is_test":true,"tags":{"delivery_id":"dlv-2"},` +
		`"error_type":"lineError","error_code":34,"error_message":"No answer",` +
		`"recipients":[{"phone_number":"+15552345678","status":"failure","error_type":"lineError","error_code":34,"error_message":"No answer"}]}}`
	var gotPath, gotMethod string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotMethod = r.URL.Path, r.Method
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	f, err := testClient(srv.URL+"/").Status(context.Background(), 555)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if gotMethod != http.MethodGet || gotPath != "/v2.1/faxes/555" {
		t.Errorf("request = %s %s", gotMethod, gotPath)
	}
	if f.ID != 555 || f.Status != StatusFailure || f.NumPages != 4 || !f.IsTest || f.Tags["delivery_id"] != "dlv-2" ||
		f.ErrorType != "lineError" || f.ErrorCode != 34 || f.ErrorMessage != "No answer" || len(f.Recipients) != 1 {
		t.Errorf("Status = %+v", f)
	}
	if !f.Status.Final() || StatusInProgress.Final() || StatusQueued.Final() || StatusPendingBatch.Final() {
		t.Error("Final() disagrees with the status list")
	}
}

func TestStatusNotFoundIsPermanent(t *testing.T) {
	srv := fakePhaxio(t, 404, `{"success":false,"message":"Fax not found"}`, nil)
	_, err := testClient(srv.URL).Status(context.Background(), 9)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || IsTemporary(err) {
		t.Fatalf("Status error = %v", err)
	}
}

// TestThrottledReplyCarriesRetryAfter: a 429 or 503 reply's Retry-After,
// either form, is on the APIError as a wait; garbage, a negative number
// or the field on another status is not.
func TestThrottledReplyCarriesRetryAfter(t *testing.T) {
	at := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
	}{
		{"429 seconds", 429, map[string]string{"Retry-After": "120"}, 120 * time.Second},
		{"503 HTTP-date against the reply's Date", 503,
			map[string]string{"Date": at.Format(http.TimeFormat), "Retry-After": at.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"429 without the field", 429, nil, 0},
		{"429 garbage", 429, map[string]string{"Retry-After": "tomorrow"}, 0},
		{"429 negative", 429, map[string]string{"Retry-After": "-1"}, 0},
		{"500 is not a throttle", 500, map[string]string{"Retry-After": "120"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"success":false,"message":"Rate limit exceeded"}`))
			}))
			t.Cleanup(srv.Close)
			_, err := testClient(srv.URL).Send(context.Background(), SendRequest{To: "+15552345678", Files: []File{{Data: []byte("%PDF")}}})
			var api *APIError
			if !errors.As(err, &api) || !IsTemporary(err) {
				t.Fatalf("err = %v, want a temporary APIError", err)
			}
			if api.RetryAfter != tt.want {
				t.Errorf("RetryAfter = %v, want %v", api.RetryAfter, tt.want)
			}
		})
	}
}
