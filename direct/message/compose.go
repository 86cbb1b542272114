package message

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	netmail "net/mail"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// FinalDeliveryOption is the Disposition-Notification-Options value that asks
// the receiving HISP for a "dispatched" MDN once the message reached the
// recipient, as defined by the Direct delivery notification guide.
const FinalDeliveryOption = "X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,true"

// Attachment is one document carried by a Direct message.
type Attachment struct {
	// Filename is the name shown to the recipient; it must not contain a path.
	Filename string
	// ContentType is a C-CDA (application/xml, text/xml), application/pdf,
	// text/plain, image/* or application/zip (XDM) media type, optionally
	// with parameters.
	ContentType string
	// Content is the raw document; it travels base64 encoded.
	Content []byte
}

// Outbound is a referral message the gateway is about to send.
type Outbound struct {
	From                      string   // sender's Direct address
	To                        []string // recipients' Direct addresses
	Subject                   string
	MessageID                 string    // caller-supplied, without angle brackets (see NewMessageID)
	InReplyTo                 string    // optional message id, without angle brackets
	References                []string  // optional message ids, without angle brackets
	Date                      time.Time // required: the header carries it verbatim
	SummaryText               string    // human-readable referral summary (text/plain, UTF-8)
	Attachments               []Attachment
	Part2Notice               bool   // add the 42 CFR Part 2 notice to the summary and as its own part
	DispositionNotificationTo string // where MDNs go; empty means no MDN requested
	FinalDelivery             bool   // ask for a "dispatched" MDN (needs DispositionNotificationTo)
	// XDM packs the attachments into one IHE XDM zip (XDMFilename) with
	// Metadata-Limited XDS metadata instead of attaching them one by one.
	XDM bool
}

// Composer renders Outbound messages. The zero value is ready to use and
// draws random MIME boundaries.
type Composer struct {
	// Boundary, when set, returns the multipart boundary to use; golden tests
	// set it to make output deterministic. It is called once per message.
	Boundary func() string
}

// Compose renders m as an RFC 5322 MIME entity with CRLF line endings using
// random boundaries.
func Compose(m Outbound) ([]byte, error) {
	var c Composer
	return c.Compose(m)
}

// Compose renders m as an RFC 5322 MIME entity with CRLF line endings.
func (c *Composer) Compose(m Outbound) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("message: compose: %w", err)
	}
	boundary := randomBoundary()
	if c != nil && c.Boundary != nil {
		boundary = c.Boundary()
	}
	if boundary == "" || len(boundary) > 70 || strings.ContainsAny(boundary, "\r\n\"") {
		return nil, errors.New("message: compose: invalid boundary")
	}

	h := m.header(boundary)
	var buf bytes.Buffer
	w, err := gomessage.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("message: compose: header: %w", err)
	}
	if err := m.writeParts(w); err != nil {
		return nil, fmt.Errorf("message: compose: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("message: compose: close: %w", err)
	}
	return buf.Bytes(), nil
}

// header builds the top-level header. go-message writes fields in reverse
// order of insertion, so the setters below run from the last field to the
// first.
func (m *Outbound) header(boundary string) mail.Header {
	var h mail.Header
	h.SetContentType("multipart/mixed", map[string]string{"boundary": boundary})
	h.Set("MIME-Version", "1.0")
	if m.FinalDelivery {
		h.Set("Disposition-Notification-Options", FinalDeliveryOption)
	}
	if m.DispositionNotificationTo != "" {
		a, _ := netmail.ParseAddress(m.DispositionNotificationTo)
		h.SetAddressList("Disposition-Notification-To", []*mail.Address{{Address: a.Address}})
	}
	if len(m.References) > 0 {
		h.SetMsgIDList("References", m.References)
	}
	if m.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{m.InReplyTo})
	}
	h.SetMessageID(m.MessageID)
	h.SetDate(m.Date)
	h.SetSubject(m.Subject)
	to := make([]*mail.Address, 0, len(m.To))
	for _, s := range m.To {
		a, _ := netmail.ParseAddress(s)
		to = append(to, &mail.Address{Name: a.Name, Address: a.Address})
	}
	h.SetAddressList("To", to)
	from, _ := netmail.ParseAddress(m.From)
	h.SetAddressList("From", []*mail.Address{{Name: from.Name, Address: from.Address}})
	return h
}

func (m *Outbound) writeParts(w *gomessage.Writer) error {
	summary := normalizeText(m.SummaryText)
	if m.Part2Notice {
		if summary != "" && !strings.HasSuffix(summary, "\n") {
			summary += "\n"
		}
		summary += "\n" + Part2NoticeText
	}
	if err := writeText(w, summary, nil); err != nil {
		return fmt.Errorf("summary part: %w", err)
	}
	if m.Part2Notice {
		disp := map[string]string{"filename": part2Filename}
		if err := writeText(w, Part2NoticeText, disp); err != nil {
			return fmt.Errorf("part 2 notice part: %w", err)
		}
	}
	attachments := m.Attachments
	if m.XDM && len(attachments) > 0 {
		zipped, err := buildXDM(m)
		if err != nil {
			return err
		}
		attachments = []Attachment{{Filename: XDMFilename, ContentType: "application/zip", Content: zipped}}
	}
	for i, a := range attachments {
		if err := writeAttachment(w, a); err != nil {
			return fmt.Errorf("attachment %d: %w", i, err)
		}
	}
	return nil
}

// senderAddress returns the bare address of a validated RFC 5322 address.
func senderAddress(s string) string {
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return s
	}
	return a.Address
}

// writeText writes a UTF-8 text/plain part; a non-nil disp makes it an
// attachment with those disposition parameters.
func writeText(w *gomessage.Writer, text string, disp map[string]string) error {
	var h gomessage.Header
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	if disp != nil {
		h.SetContentDisposition("attachment", disp)
	}
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write([]byte(text)); err != nil {
		return err
	}
	return pw.Close()
}

func writeAttachment(w *gomessage.Writer, a Attachment) error {
	mt, params, _ := mime.ParseMediaType(a.ContentType)
	params["name"] = a.Filename
	var h gomessage.Header
	h.Set("Content-Transfer-Encoding", "base64")
	h.SetContentDisposition("attachment", map[string]string{"filename": a.Filename})
	h.SetContentType(mt, params)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write(a.Content); err != nil {
		return err
	}
	return pw.Close()
}

func (m *Outbound) validate() error {
	if err := checkAddress("From", m.From); err != nil {
		return err
	}
	if len(m.To) == 0 {
		return errors.New("no recipient")
	}
	for _, to := range m.To {
		if err := checkAddress("To", to); err != nil {
			return err
		}
	}
	if m.DispositionNotificationTo != "" {
		if err := checkAddress("Disposition-Notification-To", m.DispositionNotificationTo); err != nil {
			return err
		}
	} else if m.FinalDelivery {
		return errors.New("final delivery requested without Disposition-Notification-To")
	}
	if m.Date.IsZero() {
		return errors.New("date is required")
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("subject contains a line break")
	}
	ids := append([]string{m.MessageID}, m.References...)
	if m.InReplyTo != "" {
		ids = append(ids, m.InReplyTo)
	}
	for i, id := range ids {
		if i == 0 && id == "" {
			return errors.New("message id is required")
		}
		if !validMsgID(id) {
			return fmt.Errorf("invalid message id %q", id)
		}
	}
	for i, a := range m.Attachments {
		if err := a.validate(); err != nil {
			return fmt.Errorf("attachment %d: %w", i, err)
		}
	}
	return nil
}

func (a *Attachment) validate() error {
	if a.Filename == "" || strings.ContainsAny(a.Filename, "/\\\r\n\x00\"") {
		return errors.New("filename is empty or not a bare file name")
	}
	mt, _, err := mime.ParseMediaType(a.ContentType)
	if err != nil {
		return fmt.Errorf("content type: %w", err)
	}
	switch {
	case mt == "application/xml", mt == "text/xml", mt == "application/pdf", mt == "text/plain",
		mt == "application/zip", strings.HasPrefix(mt, "image/"):
		return nil
	}
	return fmt.Errorf("content type %q is not allowed in a Direct referral", mt)
}

func checkAddress(field, s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("%s address contains a line break", field)
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("%s address: %w", field, err)
	}
	if !strings.Contains(a.Address, "@") {
		return fmt.Errorf("%s address has no domain", field)
	}
	return nil
}

// validMsgID accepts dot-atom-ish ids with one "@" and no characters that
// would break the angle-bracketed header form.
func validMsgID(id string) bool {
	if id == "" || strings.Count(id, "@") != 1 || strings.HasPrefix(id, "@") || strings.HasSuffix(id, "@") {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("<>()[]\\,;:\"", r) {
			return false
		}
	}
	return true
}

func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

func randomBoundary() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return "direct-" + hex.EncodeToString(b[:])
}
