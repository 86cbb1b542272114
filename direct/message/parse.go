package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Limits that keep Parse bounded on hostile input.
const (
	maxDepth = 8   // nested multipart levels
	maxParts = 256 // leaf parts in one message
)

// Inbound is a parsed Direct message (after S/MIME unwrapping).
type Inbound struct {
	From        string   // address only
	To          []string // addresses only
	Subject     string
	MessageID   string // without angle brackets
	InReplyTo   string // without angle brackets
	References  []string
	Date        time.Time // zero when missing or malformed
	Text        string    // first inline text/plain body, UTF-8, LF line endings
	Attachments []Attachment
	// DispositionNotificationTo is where the sender wants MDNs; non-empty
	// means an MDN was requested.
	DispositionNotificationTo string
	// FinalDelivery reports that the sender asked for a "dispatched" MDN.
	FinalDelivery bool
}

// MDNRequested reports whether the sender asked for disposition notifications.
func (in *Inbound) MDNRequested() bool { return in.DispositionNotificationTo != "" }

// Parse reads a plain (already decrypted and verified) MIME message. It is
// lenient about optional headers and strict only where the gateway cannot
// continue: a message without a From address is an error.
func Parse(raw []byte) (*Inbound, error) {
	e, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("message: parse: header: %w", err)
	}
	h := mail.Header{Header: e.Header}
	in := &Inbound{}
	from, err := h.AddressList("From")
	if err != nil || len(from) == 0 {
		return nil, errors.New("message: parse: missing or malformed From")
	}
	in.From = from[0].Address
	if to, err := h.AddressList("To"); err == nil {
		for _, a := range to {
			in.To = append(in.To, a.Address)
		}
	}
	in.Subject, _ = h.Subject()
	in.MessageID, _ = h.MessageID()
	if ids, _ := h.MsgIDList("In-Reply-To"); len(ids) > 0 {
		in.InReplyTo = ids[0]
	}
	in.References, _ = h.MsgIDList("References")
	if d, err := h.Date(); err == nil {
		in.Date = d
	}
	if dnt, err := h.AddressList("Disposition-Notification-To"); err == nil && len(dnt) > 0 {
		in.DispositionNotificationTo = dnt[0].Address
	}
	in.FinalDelivery = hasFinalDeliveryOption(h.Get("Disposition-Notification-Options"))

	w := walker{in: in}
	if err := w.walk(e, 0); err != nil {
		return nil, fmt.Errorf("message: parse: body: %w", err)
	}
	return in, nil
}

// hasFinalDeliveryOption looks for X-DIRECT-FINAL-DESTINATION-DELIVERY with
// a true value among the semicolon-separated options.
func hasFinalDeliveryOption(v string) bool {
	for _, opt := range strings.Split(v, ";") {
		name, val, ok := strings.Cut(opt, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "X-DIRECT-FINAL-DESTINATION-DELIVERY") {
			continue
		}
		parts := strings.Split(val, ",")
		for _, p := range parts[1:] {
			if strings.EqualFold(strings.TrimSpace(p), "true") {
				return true
			}
		}
	}
	return false
}

type walker struct {
	in    *Inbound
	parts int
	text  bool
}

func (w *walker) walk(e *gomessage.Entity, depth int) error {
	if depth > maxDepth {
		return errors.New("multipart nesting too deep")
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
				return err
			}
			if err := w.walk(p, depth+1); err != nil {
				return err
			}
		}
	}
	w.parts++
	if w.parts > maxParts {
		return errors.New("too many parts")
	}
	body, err := io.ReadAll(e.Body)
	if err != nil {
		return err
	}
	mt, params, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	if !w.text && mt == "text/plain" && !strings.EqualFold(disp, "attachment") {
		w.text = true
		w.in.Text = normalizeText(string(body))
		return nil
	}
	ct := mt
	if cs := params["charset"]; cs != "" {
		ct = mt + "; charset=" + cs
	}
	w.in.Attachments = append(w.in.Attachments, Attachment{Filename: filename, ContentType: ct, Content: body})
	return nil
}
