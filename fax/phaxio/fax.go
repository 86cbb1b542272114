package phaxio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// FaxID is Phaxio's numeric identifier of a fax job.
type FaxID int64

// String formats the id in decimal, as it appears in API paths.
func (id FaxID) String() string { return strconv.FormatInt(int64(id), 10) }

// Status is the state of a fax job as Phaxio reports it.
type Status string

// The fax statuses of Phaxio API v2.1.
const (
	StatusQueued         Status = "queued"
	StatusPendingBatch   Status = "pendingbatch"
	StatusInProgress     Status = "inprogress"
	StatusSuccess        Status = "success"
	StatusFailure        Status = "failure"
	StatusPartialSuccess Status = "partialsuccess"
)

// Final reports whether the status will not change any more.
func (s Status) Final() bool {
	return s == StatusSuccess || s == StatusFailure || s == StatusPartialSuccess
}

// IdempotencyTag is the tag name under which SendRequest.IdempotencyKey
// travels. Phaxio has no idempotency key of its own; this tag is our
// contract, honoured by the faxsim emulator and by our own reconciliation.
const IdempotencyTag = "idempotency_key"

// Recipient is the per-number outcome of a sent fax.
type Recipient struct {
	PhoneNumber  string
	Status       Status
	ErrorType    string
	ErrorCode    int
	ErrorMessage string
}

// Fax is the part of Phaxio's fax object that a sender needs.
type Fax struct {
	ID           FaxID
	Direction    string // "sent" or "received"
	Status       Status
	IsTest       bool
	NumPages     int
	Tags         map[string]string
	ErrorType    string // e.g. "lineError", "faxError"; empty on success
	ErrorCode    int
	ErrorMessage string
	Recipients   []Recipient
}

// flexInt accepts a JSON number, a numeric string, or null.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" || string(b) == `""` {
		*n = 0
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %q", b)
	}
	*n = flexInt(v)
	return nil
}

// flexString accepts a JSON string, number or bool, as Phaxio tag values
// and error codes are not always typed consistently.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	if string(b) == "null" {
		*s = ""
		return nil
	}
	*s = flexString(b)
	return nil
}

// wireRecipient and wireFax mirror the JSON of Phaxio's fax object.
type wireRecipient struct {
	PhoneNumber  string  `json:"phone_number"`
	Status       string  `json:"status"`
	ErrorType    string  `json:"error_type"`
	ErrorCode    flexInt `json:"error_code"`
	ErrorID      flexInt `json:"error_id"`
	ErrorMessage string  `json:"error_message"`
}

type wireFax struct {
	ID           flexInt               `json:"id"`
	Direction    string                `json:"direction"`
	Status       string                `json:"status"`
	IsTest       bool                  `json:"is_test"`
	NumPages     flexInt               `json:"num_pages"`
	Tags         map[string]flexString `json:"tags"`
	ErrorType    string                `json:"error_type"`
	ErrorCode    flexInt               `json:"error_code"`
	ErrorID      flexInt               `json:"error_id"`
	ErrorMessage string                `json:"error_message"`
	Recipients   []wireRecipient       `json:"recipients"`
}

// toFax converts the wire object. When the fax-level error fields are empty
// the first failed recipient's error is used, so a caller has one place to
// look.
func (w *wireFax) toFax() Fax {
	f := Fax{
		ID:           FaxID(w.ID),
		Direction:    w.Direction,
		Status:       Status(w.Status),
		IsTest:       w.IsTest,
		NumPages:     int(w.NumPages),
		ErrorType:    w.ErrorType,
		ErrorCode:    firstNonZero(int(w.ErrorCode), int(w.ErrorID)),
		ErrorMessage: w.ErrorMessage,
	}
	if len(w.Tags) > 0 {
		f.Tags = make(map[string]string, len(w.Tags))
		for k, v := range w.Tags {
			f.Tags[k] = string(v)
		}
	}
	for _, r := range w.Recipients {
		rec := Recipient{
			PhoneNumber:  r.PhoneNumber,
			Status:       Status(r.Status),
			ErrorType:    r.ErrorType,
			ErrorCode:    firstNonZero(int(r.ErrorCode), int(r.ErrorID)),
			ErrorMessage: r.ErrorMessage,
		}
		f.Recipients = append(f.Recipients, rec)
		if f.ErrorType == "" && f.ErrorMessage == "" && (rec.ErrorType != "" || rec.ErrorMessage != "") {
			f.ErrorType, f.ErrorCode, f.ErrorMessage = rec.ErrorType, rec.ErrorCode, rec.ErrorMessage
		}
	}
	return f
}

func firstNonZero(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}
