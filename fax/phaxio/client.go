package phaxio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/referralgw/gateway/internal/retryafter"
)

// DefaultBaseURL is Phaxio's production API origin.
const DefaultBaseURL = "https://api.phaxio.com"

// maxReplyBytes bounds how much of a reply body the client reads.
const maxReplyBytes = 1 << 20

// Client talks to the Phaxio API v2.1. The zero value is not usable: APIKey
// and APISecret are required. It is safe for concurrent use.
type Client struct {
	BaseURL    string       // origin without the version path; DefaultBaseURL when empty
	APIKey     string       // basic-auth user name
	APISecret  string       // basic-auth password; never appears in errors
	HTTPClient *http.Client // http.DefaultClient when nil; set a Timeout on it
}

// File is one document of a fax, sent as a multipart file part.
type File struct {
	Name        string // file name in the part header; Phaxio requires one
	ContentType string // application/pdf when empty
	Data        []byte
}

// SendRequest is one fax to one recipient.
type SendRequest struct {
	To             string // E.164, e.g. +15551234567 (see NormalizeUS)
	Files          []File
	CallbackURL    string            // overrides the account's callback URL when set
	Tags           map[string]string // sent as tag[name]=value and echoed in callbacks
	IdempotencyKey string            // sent as tag[IdempotencyTag]; see IdempotencyTag
}

// apiReply is the envelope of every Phaxio v2.1 JSON reply.
type apiReply struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// Send submits a fax and returns the id Phaxio assigned to it. Acceptance
// only means Phaxio queued the job; the outcome arrives by callback or Status.
func (c *Client) Send(ctx context.Context, req SendRequest) (FaxID, error) {
	const op = "send"
	if req.To == "" {
		return 0, fmt.Errorf("phaxio: %s: no recipient number", op)
	}
	if len(req.Files) == 0 {
		return 0, fmt.Errorf("phaxio: %s: no file to fax", op)
	}
	body, contentType, err := encodeSend(req)
	if err != nil {
		return 0, fmt.Errorf("phaxio: %s: encode: %w", op, err)
	}
	var data struct {
		ID flexInt `json:"id"`
	}
	if err := c.do(ctx, op, http.MethodPost, "/v2.1/faxes", contentType, body, &data); err != nil {
		return 0, err
	}
	if data.ID <= 0 {
		return 0, &TransportError{Op: op, Err: errors.New("reply carries no fax id")}
	}
	return FaxID(data.ID), nil
}

// Status fetches the current state of a fax.
func (c *Client) Status(ctx context.Context, id FaxID) (*Fax, error) {
	const op = "status"
	var w wireFax
	if err := c.do(ctx, op, http.MethodGet, "/v2.1/faxes/"+id.String(), "", nil, &w); err != nil {
		return nil, err
	}
	f := w.toFax()
	return &f, nil
}

// encodeSend builds the multipart/form-data body of a send request.
func encodeSend(req SendRequest) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("to", req.To); err != nil {
		return nil, "", err
	}
	fileField := "file"
	if len(req.Files) > 1 {
		fileField = "file[]"
	}
	for i, f := range req.Files {
		name := f.Name
		if name == "" {
			name = fmt.Sprintf("document-%d.pdf", i+1)
		}
		ct := f.ContentType
		if ct == "" {
			ct = "application/pdf"
		}
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, fileField, sanitizeFilename(name)))
		h.Set("Content-Type", ct)
		pw, err := mw.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		if _, err := pw.Write(f.Data); err != nil {
			return nil, "", err
		}
	}
	if req.CallbackURL != "" {
		if err := mw.WriteField("callback_url", req.CallbackURL); err != nil {
			return nil, "", err
		}
	}
	for _, k := range sortedKeys(req.Tags) {
		if k == IdempotencyTag && req.IdempotencyKey != "" {
			continue // IdempotencyKey wins; never send the tag twice
		}
		if err := mw.WriteField("tag["+k+"]", req.Tags[k]); err != nil {
			return nil, "", err
		}
	}
	if req.IdempotencyKey != "" {
		if err := mw.WriteField("tag["+IdempotencyTag+"]", req.IdempotencyKey); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// sanitizeFilename keeps a file name from breaking the part header.
func sanitizeFilename(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

// do performs one API call and decodes the "data" member of a successful
// reply into out.
func (c *Client) do(ctx context.Context, op, method, path, contentType string, body []byte, out any) error {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("phaxio: %s: build request: %w", op, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.APIKey, c.APISecret)
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &TransportError{Op: op, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return &TransportError{Op: op, Err: fmt.Errorf("read reply: %w", err)}
	}
	var reply apiReply
	jsonErr := json.Unmarshal(raw, &reply)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := reply.Message
		if jsonErr != nil || msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &APIError{Op: op, StatusCode: resp.StatusCode, Message: msg, RetryAfter: retryafter.FromResponse(resp, time.Now())}
	}
	if jsonErr != nil {
		return &TransportError{Op: op, Err: fmt.Errorf("decode reply: %w", jsonErr)}
	}
	if !reply.Success {
		return &APIError{Op: op, StatusCode: resp.StatusCode, Message: reply.Message}
	}
	if out != nil && len(reply.Data) > 0 {
		if err := json.Unmarshal(reply.Data, out); err != nil {
			return &TransportError{Op: op, Err: fmt.Errorf("decode reply data: %w", err)}
		}
	}
	return nil
}
