package mdn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Notification describes one MDN the gateway sends back for a message it
// received.
type Notification struct {
	From      string    // the reporting recipient's Direct address
	To        string    // the original sender (its Disposition-Notification-To)
	Subject   string    // optional; defaults to a content-free subject naming the disposition
	MessageID string    // this MDN's own id, without angle brackets
	Date      time.Time // required
	// ReportingUA names the gateway, e.g. "direct.example.org; referralgw".
	ReportingUA       string
	OriginalRecipient string // optional; as the original message's envelope gave it
	FinalRecipient    string // the recipient whose disposition is reported
	OriginalMessageID string // without angle brackets
	Disposition       Disposition
	// FinalDelivery adds the X-DIRECT-FINAL-DESTINATION-DELIVERY extension
	// field; the guide asks for it on dispatched (and failed) MDNs that answer
	// a message which requested final delivery notification.
	FinalDelivery bool
	// Failure is the Failure field text of a failed MDN; it must not carry PHI.
	Failure string
}

// Builder renders notifications. The zero value draws random boundaries.
type Builder struct {
	// Boundary, when set, returns the multipart boundary; tests use it for
	// deterministic output.
	Boundary func() string
}

// Build renders n as a multipart/report; report-type=disposition-notification
// entity with CRLF line endings, using a random boundary.
func Build(n Notification) ([]byte, error) {
	var b Builder
	return b.Build(n)
}

// Build renders n as a multipart/report; report-type=disposition-notification
// entity with CRLF line endings.
func (b *Builder) Build(n Notification) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, fmt.Errorf("mdn: build: %w", err)
	}
	boundary := randomBoundary()
	if b != nil && b.Boundary != nil {
		boundary = b.Boundary()
	}

	// go-message writes header fields in reverse insertion order.
	var h mail.Header
	h.SetContentType("multipart/report", map[string]string{
		"report-type": "disposition-notification",
		"boundary":    boundary,
	})
	h.Set("MIME-Version", "1.0")
	h.SetMsgIDList("References", []string{n.OriginalMessageID})
	h.SetMsgIDList("In-Reply-To", []string{n.OriginalMessageID})
	h.SetMessageID(n.MessageID)
	h.SetDate(n.Date)
	subject := n.Subject
	if subject == "" {
		subject = "Disposition notification: " + string(n.Disposition)
	}
	h.SetSubject(subject)
	h.SetAddressList("To", []*mail.Address{{Address: bare(n.To)}})
	h.SetAddressList("From", []*mail.Address{{Address: bare(n.From)}})

	var buf bytes.Buffer
	w, err := gomessage.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("mdn: build: header: %w", err)
	}
	if err := writePart(w, "text/plain", map[string]string{"charset": "utf-8"}, n.humanText()); err != nil {
		return nil, fmt.Errorf("mdn: build: text part: %w", err)
	}
	if err := writePart(w, "message/disposition-notification", nil, n.fields()); err != nil {
		return nil, fmt.Errorf("mdn: build: notification part: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("mdn: build: close: %w", err)
	}
	return buf.Bytes(), nil
}

// humanText is the explanatory part: ids and disposition only, no content.
func (n *Notification) humanText() string {
	var s string
	switch n.Disposition {
	case Processed:
		s = "was received and processed by the recipient's system"
	case Dispatched:
		s = "was delivered to the recipient"
	case Displayed:
		s = "was displayed to the recipient"
	case Deleted:
		s = "was deleted without being displayed"
	case Failed:
		s = "could not be delivered to the recipient"
	}
	return fmt.Sprintf("Message <%s> to %s %s.\r\n", n.OriginalMessageID, bare(n.FinalRecipient), s)
}

// fields is the machine-readable message/disposition-notification body.
func (n *Notification) fields() string {
	var b strings.Builder
	field := func(name, value string) {
		b.WriteString(name + ": " + value + "\r\n")
	}
	field("Reporting-UA", n.ReportingUA)
	if n.OriginalRecipient != "" {
		field("Original-Recipient", "rfc822;"+bare(n.OriginalRecipient))
	}
	field("Final-Recipient", "rfc822;"+bare(n.FinalRecipient))
	field("Original-Message-ID", "<"+n.OriginalMessageID+">")
	field("Disposition", dispositionField{
		ActionMode: "automatic-action", SendingMode: "MDN-sent-automatically", Type: n.Disposition,
	}.String())
	if n.FinalDelivery {
		b.WriteString(FinalDeliveryField + ":\r\n")
	}
	if n.Disposition == Failed {
		field("Failure", n.Failure)
	}
	return b.String()
}

func writePart(w *gomessage.Writer, mediaType string, params map[string]string, body string) error {
	var h gomessage.Header
	h.Set("Content-Transfer-Encoding", "7bit")
	h.SetContentType(mediaType, params)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write([]byte(body)); err != nil {
		return err
	}
	return pw.Close()
}

func (n *Notification) validate() error {
	for _, a := range []struct{ name, v string }{
		{"From", n.From}, {"To", n.To}, {"Final-Recipient", n.FinalRecipient},
	} {
		if _, err := netmail.ParseAddress(a.v); err != nil || strings.ContainsAny(a.v, "\r\n") {
			return fmt.Errorf("%s address %q is invalid", a.name, a.v)
		}
	}
	if n.OriginalRecipient != "" {
		if _, err := netmail.ParseAddress(n.OriginalRecipient); err != nil {
			return errors.New("Original-Recipient address is invalid")
		}
	}
	if !n.Disposition.valid() {
		return fmt.Errorf("unknown disposition %q", n.Disposition)
	}
	if n.Date.IsZero() {
		return errors.New("date is required")
	}
	if n.ReportingUA == "" {
		return errors.New("Reporting-UA is required")
	}
	if n.Disposition == Failed && n.Failure == "" {
		return errors.New("a failed MDN needs a Failure text")
	}
	if strings.ContainsAny(n.Subject, "\r\n") {
		return errors.New("subject contains a line break")
	}
	for _, v := range []string{n.ReportingUA, n.Failure} {
		if strings.ContainsAny(v, "\r\n") || !isASCII(v) {
			return fmt.Errorf("field value %q contains a line break or non-ASCII text", v)
		}
	}
	for _, id := range []string{n.MessageID, n.OriginalMessageID} {
		if id == "" || strings.ContainsAny(id, "<> \t\r\n") || !strings.Contains(id, "@") {
			return fmt.Errorf("message id %q is invalid", id)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// bare returns the address part of an RFC 5322 address (validated earlier).
func bare(s string) string {
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return s
	}
	return a.Address
}

func randomBoundary() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return "mdn-" + hex.EncodeToString(b[:])
}
