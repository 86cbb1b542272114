package phaxio

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const (
	testCallbackURL = "https://gw.example.test/fax/callback?d=42"
	testFaxJSON     = `{"id":1234,"status":"success","num_pages":3}`
)

var testToken = []byte("synthetic-callback-token")

// TestSignCallbackKnownAnswer pins the signature to a value computed
// independently with Python's hmac module over the documented string.
func TestSignCallbackKnownAnswer(t *testing.T) {
	form := url.Values{
		"success":   {"true"},
		"is_test":   {"false"},
		"direction": {"sent"},
		"fax":       {testFaxJSON},
	}
	files := map[string][]byte{"file": []byte("%PDF-1.4 synthetic")}
	const want = "e0c47207fe0f980625b2a2d28f429f1f2a961352"
	if got := SignCallback(testCallbackURL, form, files, testToken); got != want {
		t.Fatalf("SignCallback = %s, want %s", got, want)
	}
}

// multipartCallback builds a signed multipart callback request.
func multipartCallback(t *testing.T, form url.Values, files map[string][]byte, sig string) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range form {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range files {
		w, err := mw.CreateFormFile(name, name+".pdf")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, testCallbackURL, &buf)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	if sig != "" {
		r.Header.Set(SignatureHeader, sig)
	}
	return r
}

func urlencodedCallback(form url.Values, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, testCallbackURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		r.Header.Set(SignatureHeader, sig)
	}
	return r
}

func failureForm() url.Values {
	return url.Values{
		"success":   {"false"},
		"is_test":   {"true"},
		"direction": {"sent"},
		"fax": {`{"id":"77","direction":"sent","status":"failure","is_test":true,"num_pages":2,` +
			`"tags":{"delivery_id":"dlv-1","idempotency_key":"k-1","n":5},` +
			`"recipients":[{"phone_number":"+15552345678","status":"failure","error_type":"lineError","error_code":"34","error_message":"Busy"}]}`},
	}
}

func TestVerifyCallback(t *testing.T) {
	okForm := url.Values{"success": {"true"}, "is_test": {"false"}, "direction": {"sent"}, "fax": {testFaxJSON}}
	files := map[string][]byte{"file": []byte("%PDF-1.4 synthetic")}
	goodSig := SignCallback(testCallbackURL, okForm, files, testToken)
	tampered := url.Values{"success": {"true"}, "is_test": {"false"}, "direction": {"sent"}, "fax": {`{"id":1235,"status":"success","num_pages":3}`}}

	tests := []struct {
		name    string
		req     func(t *testing.T) *http.Request
		url     string
		token   []byte
		wantErr error
		want    *Callback
	}{
		{
			name: "multipart with file",
			req:  func(t *testing.T) *http.Request { return multipartCallback(t, okForm, files, goodSig) },
			want: &Callback{FaxID: 1234, Direction: "sent", Success: true, Status: StatusSuccess, NumPages: 3},
		},
		{
			name: "upper-case hex accepted",
			req: func(t *testing.T) *http.Request {
				return multipartCallback(t, okForm, files, strings.ToUpper(goodSig))
			},
			want: &Callback{FaxID: 1234, Direction: "sent", Success: true, Status: StatusSuccess, NumPages: 3},
		},
		{
			name: "urlencoded failure with tags and recipient error",
			req: func(t *testing.T) *http.Request {
				return urlencodedCallback(failureForm(), SignCallback(testCallbackURL, failureForm(), nil, testToken))
			},
			want: &Callback{
				FaxID: 77, Direction: "sent", Success: false, IsTest: true, Status: StatusFailure, NumPages: 2,
				Tags:      map[string]string{"delivery_id": "dlv-1", "idempotency_key": "k-1", "n": "5"},
				ErrorType: "lineError", ErrorCode: 34, ErrorMessage: "Busy",
				Recipients: []Recipient{{PhoneNumber: "+15552345678", Status: StatusFailure,
					ErrorType: "lineError", ErrorCode: 34, ErrorMessage: "Busy"}},
			},
		},
		{
			name:    "missing signature",
			req:     func(t *testing.T) *http.Request { return multipartCallback(t, okForm, files, "") },
			wantErr: ErrMissingSignature,
		},
		{
			name:    "wrong token",
			req:     func(t *testing.T) *http.Request { return multipartCallback(t, okForm, files, goodSig) },
			token:   []byte("another-token"),
			wantErr: ErrBadSignature,
		},
		{
			name:    "wrong callback URL (no query)",
			req:     func(t *testing.T) *http.Request { return multipartCallback(t, okForm, files, goodSig) },
			url:     "https://gw.example.test/fax/callback",
			wantErr: ErrBadSignature,
		},
		{
			name:    "tampered parameter",
			req:     func(t *testing.T) *http.Request { return multipartCallback(t, tampered, files, goodSig) },
			wantErr: ErrBadSignature,
		},
		{
			name: "tampered file",
			req: func(t *testing.T) *http.Request {
				return multipartCallback(t, okForm, map[string][]byte{"file": []byte("%PDF-1.4 other")}, goodSig)
			},
			wantErr: ErrBadSignature,
		},
		{
			name:    "file dropped",
			req:     func(t *testing.T) *http.Request { return multipartCallback(t, okForm, nil, goodSig) },
			wantErr: ErrBadSignature,
		},
		{
			name:    "not hex",
			req:     func(t *testing.T) *http.Request { return multipartCallback(t, okForm, files, "zz"+goodSig[2:]) },
			wantErr: ErrBadSignature,
		},
		{
			name:    "truncated signature",
			req:     func(t *testing.T) *http.Request { return multipartCallback(t, okForm, files, goodSig[:20]) },
			wantErr: ErrBadSignature,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, tok := testCallbackURL, testToken
			if tt.url != "" {
				u = tt.url
			}
			if tt.token != nil {
				tok = tt.token
			}
			got, err := VerifyCallback(tt.req(t), u, tok)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("VerifyCallback error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyCallback: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("VerifyCallback =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestVerifyCallbackRejectsMalformed(t *testing.T) {
	tests := []struct {
		name string
		req  *http.Request
	}{
		{"GET", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, testCallbackURL, nil)
			r.Header.Set(SignatureHeader, "00")
			return r
		}()},
		{"JSON body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, testCallbackURL, strings.NewReader(`{}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set(SignatureHeader, "00")
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyCallback(tt.req, testCallbackURL, testToken); err == nil {
				t.Fatal("VerifyCallback accepted a malformed request")
			}
		})
	}
}

func TestParseCallback(t *testing.T) {
	tests := []struct {
		name    string
		fax     string
		wantErr bool
	}{
		{"missing fax", "", true},
		{"not JSON", "{", true},
		{"no id", `{"status":"success"}`, true},
		{"id as string", `{"id":"9","status":"queued"}`, false},
		{"error_id fallback", `{"id":9,"status":"failure","error_type":"faxError","error_id":12,"error_message":"x"}`, false},
		{"bad num_pages", `{"id":9,"num_pages":"many"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			if tt.fax != "" {
				form.Set("fax", tt.fax)
			}
			cb, err := ParseCallback(form)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseCallback err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && cb.FaxID != 9 {
				t.Fatalf("FaxID = %d, want 9", cb.FaxID)
			}
			if tt.name == "error_id fallback" && cb.ErrorCode != 12 {
				t.Fatalf("ErrorCode = %d, want 12 from error_id", cb.ErrorCode)
			}
		})
	}
}

// FuzzVerifyCallback feeds arbitrary bodies and content types through the
// callback reader; it must never panic, and any body it accepts must have
// carried the signature computed over what it parsed.
func FuzzVerifyCallback(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", failureForm().Encode(), "")
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"fax\"\r\n\r\n"+testFaxJSON+"\r\n--X--\r\n", "")
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF\r\n--X--\r\n", "00")
	f.Add("text/plain", "fax=1", "ab")
	f.Fuzz(func(t *testing.T, contentType, body, sig string) {
		newReq := func(s string) *http.Request {
			r := httptest.NewRequest(http.MethodPost, testCallbackURL, strings.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			r.Header.Set(SignatureHeader, s)
			return r
		}
		if sig == "" {
			sig = "0"
		}
		if _, err := VerifyCallback(newReq(sig), testCallbackURL, testToken); err == nil {
			t.Fatalf("accepted a guessed signature %q", sig)
		}
		// With the right signature the outcome depends only on ParseCallback.
		form, files, err := readCallbackForm(newReq(""))
		if err != nil {
			return
		}
		good := hexMAC(testCallbackURL, form, files)
		cb, err := VerifyCallback(newReq(good), testCallbackURL, testToken)
		if errors.Is(err, ErrBadSignature) || errors.Is(err, ErrMissingSignature) {
			t.Fatalf("refused its own signature: %v", err)
		}
		if err == nil && cb.FaxID <= 0 {
			t.Fatalf("accepted callback without a fax id")
		}
	})
}

func hexMAC(u string, form url.Values, files []filePart) string {
	const digits = "0123456789abcdef"
	mac := callbackMAC(u, form, files, testToken)
	out := make([]byte, 0, 2*len(mac))
	for _, b := range mac {
		out = append(out, digits[b>>4], digits[b&15])
	}
	return string(out)
}

// FuzzParseCallback exercises the fax-object decoder with arbitrary JSON.
func FuzzParseCallback(f *testing.F) {
	f.Add(testFaxJSON, "true")
	f.Add(failureForm().Get("fax"), "false")
	f.Add(`{"id":1,"tags":{"a":null,"b":[1]},"recipients":[{}]}`, "1")
	f.Fuzz(func(t *testing.T, fax, success string) {
		cb, err := ParseCallback(url.Values{"fax": {fax}, "success": {success}})
		if err == nil && cb.FaxID <= 0 {
			t.Fatalf("accepted fax object without a positive id: %q", fax)
		}
	})
}
