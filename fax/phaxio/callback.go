package phaxio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// SignatureHeader carries Phaxio's callback signature, lower-case hex.
const SignatureHeader = "X-Phaxio-Signature"

// Limits on a callback request body; a send callback is small, a receive
// callback may carry the fax as a PDF part.
const (
	maxCallbackBytes  = 64 << 20
	maxCallbackMemory = 8 << 20
)

// Callback is the content of a send-fax callback: the final outcome of a fax.
type Callback struct {
	FaxID        FaxID
	Direction    string // "sent" for send callbacks
	Success      bool   // Phaxio's top-level "success" field
	IsTest       bool
	Status       Status
	NumPages     int
	Tags         map[string]string
	ErrorType    string
	ErrorCode    int
	ErrorMessage string
	Recipients   []Recipient
}

// VerifyCallback checks the X-Phaxio-Signature of a callback request and,
// when it matches, parses the callback. callbackURL must be the exact URL
// given to Phaxio (trailing slash and query included); token is the
// account's callback token. The comparison is constant-time. It consumes
// r's body.
//
// The signed string is: the callback URL, then every POST parameter sorted
// by name as name+value, then every file part sorted by part name as
// name+hex(SHA-1(content)); the signature is hex(HMAC-SHA1(token, string)).
func VerifyCallback(r *http.Request, callbackURL string, token []byte) (*Callback, error) {
	got := strings.TrimSpace(r.Header.Get(SignatureHeader))
	if got == "" {
		return nil, ErrMissingSignature
	}
	form, files, err := readCallbackForm(r)
	if err != nil {
		return nil, fmt.Errorf("phaxio: verify callback: %w", err)
	}
	gotMAC, err := hex.DecodeString(strings.ToLower(got))
	if err != nil {
		return nil, ErrBadSignature
	}
	if !hmac.Equal(gotMAC, callbackMAC(callbackURL, form, files, token)) {
		return nil, ErrBadSignature
	}
	cb, err := ParseCallback(form)
	if err != nil {
		return nil, fmt.Errorf("phaxio: verify callback: %w", err)
	}
	return cb, nil
}

// SignCallback computes the X-Phaxio-Signature value for a callback with
// the given POST parameters and file parts (part name → content). Phaxio
// does this on its side; the faxsim emulator and tests use it.
func SignCallback(callbackURL string, form url.Values, files map[string][]byte, token []byte) string {
	parts := make([]filePart, 0, len(files))
	for name, data := range files {
		parts = append(parts, filePart{name: name, sum: sha1.Sum(data)})
	}
	return hex.EncodeToString(callbackMAC(callbackURL, form, parts, token))
}

// filePart is a file part reduced to what the signature covers.
type filePart struct {
	name string
	sum  [sha1.Size]byte
}

func callbackMAC(callbackURL string, form url.Values, files []filePart, token []byte) []byte {
	m := hmac.New(sha1.New, token)
	io.WriteString(m, callbackURL)
	for _, name := range sortedKeys(form) {
		for _, v := range form[name] {
			io.WriteString(m, name)
			io.WriteString(m, v)
		}
	}
	sorted := slices.Clone(files)
	slices.SortStableFunc(sorted, func(a, b filePart) int { return strings.Compare(a.name, b.name) })
	for _, f := range sorted {
		io.WriteString(m, f.name)
		io.WriteString(m, hex.EncodeToString(f.sum[:]))
	}
	return m.Sum(nil)
}

// readCallbackForm reads the POST parameters and file parts of a
// multipart/form-data or application/x-www-form-urlencoded body. Query
// parameters are not included: they are part of the callback URL.
func readCallbackForm(r *http.Request) (url.Values, []filePart, error) {
	if r.Method != http.MethodPost {
		return nil, nil, fmt.Errorf("method %s, want POST", r.Method)
	}
	if r.Body == nil {
		return nil, nil, fmt.Errorf("no body")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxCallbackBytes)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, nil, fmt.Errorf("content type: %w", err)
	}
	switch mt {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxCallbackMemory); err != nil {
			return nil, nil, fmt.Errorf("parse multipart body: %w", err)
		}
		defer r.MultipartForm.RemoveAll()
		var files []filePart
		for name, hs := range r.MultipartForm.File {
			for _, fh := range hs {
				sum, err := sha1Part(fh)
				if err != nil {
					return nil, nil, fmt.Errorf("read file part %q: %w", name, err)
				}
				files = append(files, filePart{name: name, sum: sum})
			}
		}
		return url.Values(r.MultipartForm.Value), files, nil
	case "application/x-www-form-urlencoded":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("read body: %w", err)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, nil, fmt.Errorf("parse form body: %w", err)
		}
		return form, nil, nil
	default:
		return nil, nil, fmt.Errorf("unsupported content type %q", mt)
	}
}

func sha1Part(fh *multipart.FileHeader) ([sha1.Size]byte, error) {
	var sum [sha1.Size]byte
	f, err := fh.Open()
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// ParseCallback interprets the POST parameters of a callback whose
// signature has already been checked: success, is_test, direction and the
// JSON fax object in "fax".
func ParseCallback(form url.Values) (*Callback, error) {
	raw := form.Get("fax")
	if raw == "" {
		return nil, fmt.Errorf("parse callback: no fax parameter")
	}
	var w wireFax
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return nil, fmt.Errorf("parse callback: fax object: %w", err)
	}
	if w.ID <= 0 {
		return nil, fmt.Errorf("parse callback: fax object has no id")
	}
	f := w.toFax()
	cb := &Callback{
		FaxID:        f.ID,
		Direction:    f.Direction,
		Success:      parseBool(form.Get("success")),
		IsTest:       f.IsTest || parseBool(form.Get("is_test")),
		Status:       f.Status,
		NumPages:     f.NumPages,
		Tags:         f.Tags,
		ErrorType:    f.ErrorType,
		ErrorCode:    f.ErrorCode,
		ErrorMessage: f.ErrorMessage,
		Recipients:   f.Recipients,
	}
	if d := form.Get("direction"); d != "" {
		cb.Direction = d
	}
	return cb, nil
}

// parseBool reads the booleans Phaxio posts ("true"/"false", "1"/"0").
func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true
	}
	return false
}
