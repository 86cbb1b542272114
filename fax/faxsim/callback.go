package faxsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/referralgw/gateway/fax/phaxio"
)

// outcome is the final state the emulator gives a fax.
type outcome struct {
	status    phaxio.Status
	errorType string
	errorCode int
	message   string
}

// decide picks the outcome for the nth fax accepted for a number.
func decide(b Behavior, nth int) outcome {
	switch b {
	case Busy:
		return busy
	case NoAnswer:
		return outcome{phaxio.StatusFailure, "lineError", CodeNoAnswer, "No answer (emulated)"}
	case Fail:
		return outcome{phaxio.StatusFailure, "faxError", CodeFailed, "Fax transmission failed (emulated)"}
	case BusyThenSuccess:
		if nth == 1 {
			return busy
		}
	}
	return outcome{status: phaxio.StatusSuccess}
}

var busy = outcome{phaxio.StatusFailure, "lineError", CodeBusy, "Busy (emulated)"}

// complete moves a fax to its final state after the callback delay and
// posts the signed callback.
func (s *Server) complete(id phaxio.FaxID, o outcome) {
	defer s.wg.Done()
	if d := s.cfg.CallbackDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	s.mu.Lock()
	f := s.faxes[id]
	f.Status = o.status
	f.ErrorType, f.ErrorCode, f.ErrorMessage = o.errorType, o.errorCode, o.message
	f.CompletedAt = s.cfg.Now()
	snapshot := f.clone()
	s.mu.Unlock()

	if snapshot.CallbackURL == "" {
		return
	}
	// A callback already due is posted even if Close is called meanwhile;
	// the HTTP client's timeout bounds how long Close waits for it.
	res := s.postCallback(context.WithoutCancel(s.ctx), &snapshot)
	s.mu.Lock()
	f.Callbacks = append(f.Callbacks, res)
	s.mu.Unlock()
}

// postCallback sends the send-fax callback as Phaxio does: a multipart
// form with success, is_test, direction and the fax object as JSON, signed
// with the callback token.
func (s *Server) postCallback(ctx context.Context, f *Fax) CallbackResult {
	faxJSON, err := json.Marshal(wireFax(f))
	if err != nil {
		return CallbackResult{Err: "encode fax: " + err.Error()}
	}
	form := url.Values{
		"success":   {strconv.FormatBool(f.Status == phaxio.StatusSuccess)},
		"is_test":   {"true"}, // an emulated fax is never a real transmission
		"direction": {"sent"},
		"fax":       {string(faxJSON)},
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, k := range []string{"success", "is_test", "direction", "fax"} {
		if err := mw.WriteField(k, form.Get(k)); err != nil {
			return CallbackResult{Err: "encode callback: " + err.Error()}
		}
	}
	if err := mw.Close(); err != nil {
		return CallbackResult{Err: "encode callback: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.CallbackURL, &body)
	if err != nil {
		return CallbackResult{Err: "build callback: " + err.Error()}
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set(EmulatorHeader, "true")
	req.Header.Set("User-Agent", "faxsim (Phaxio v2.1 EMULATOR)")
	req.Header.Set(phaxio.SignatureHeader, phaxio.SignCallback(f.CallbackURL, form, nil, s.cfg.CallbackToken))
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return CallbackResult{Err: err.Error()}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return CallbackResult{StatusCode: resp.StatusCode}
}

// jsonRecipient and jsonFax are Phaxio's fax object as the emulator
// writes it.
type jsonRecipient struct {
	PhoneNumber  string `json:"phone_number"`
	Status       string `json:"status"`
	RetryCount   int    `json:"retry_count"`
	CompletedAt  string `json:"completed_at,omitempty"`
	ErrorType    string `json:"error_type,omitempty"`
	ErrorCode    int    `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

type jsonFax struct {
	ID           phaxio.FaxID      `json:"id"`
	Direction    string            `json:"direction"`
	NumPages     int               `json:"num_pages"`
	Status       string            `json:"status"`
	IsTest       bool              `json:"is_test"`
	CreatedAt    string            `json:"created_at"`
	CompletedAt  string            `json:"completed_at,omitempty"`
	Tags         map[string]string `json:"tags"`
	Recipients   []jsonRecipient   `json:"recipients"`
	ErrorType    string            `json:"error_type,omitempty"`
	ErrorCode    int               `json:"error_code,omitempty"`
	ErrorMessage string            `json:"error_message,omitempty"`
}

func wireFax(f *Fax) jsonFax {
	var completed string
	if !f.CompletedAt.IsZero() {
		completed = f.CompletedAt.UTC().Format(time.RFC3339)
	}
	tags := f.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return jsonFax{
		ID:          f.ID,
		Direction:   "sent",
		NumPages:    f.NumPages,
		Status:      string(f.Status),
		IsTest:      true,
		CreatedAt:   f.CreatedAt.UTC().Format(time.RFC3339),
		CompletedAt: completed,
		Tags:        tags,
		Recipients: []jsonRecipient{{
			PhoneNumber: f.To, Status: string(f.Status), CompletedAt: completed,
			ErrorType: f.ErrorType, ErrorCode: f.ErrorCode, ErrorMessage: f.ErrorMessage,
		}},
		ErrorType:    f.ErrorType,
		ErrorCode:    f.ErrorCode,
		ErrorMessage: f.ErrorMessage,
	}
}
