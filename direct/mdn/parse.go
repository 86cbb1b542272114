package mdn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Kind tells an MDN from a DSN.
type Kind string

// The report kinds Parse recognises.
const (
	KindMDN Kind = "mdn" // RFC 8098 message disposition notification
	KindDSN Kind = "dsn" // RFC 3464 delivery status notification
)

// Action is a DSN per-recipient Action field value (RFC 3464 section 2.3.3).
type Action string

// The DSN actions.
const (
	ActionFailed    Action = "failed"
	ActionDelayed   Action = "delayed"
	ActionDelivered Action = "delivered"
	ActionRelayed   Action = "relayed"
	ActionExpanded  Action = "expanded"
)

// RecipientStatus is one per-recipient block of a DSN.
type RecipientStatus struct {
	FinalRecipient string // address without type prefix
	// OriginalRecipient is the address the sender gave (its RCPT TO), when
	// the reporting MTA kept it: the block's Original-Recipient, without
	// type prefix.
	OriginalRecipient string
	Action            Action
	Status            string // enhanced status code, e.g. "5.1.1"
	DiagnosticCode    string // e.g. "smtp; 550 5.1.1 user unknown"
}

// Report is a parsed MDN or DSN.
type Report struct {
	Kind      Kind
	MessageID string // the report's own Message-ID, without angle brackets
	// OriginalMessageID is the id of the message this report is about: the
	// MDN's Original-Message-ID (or In-Reply-To), or for a DSN the returned
	// message's Message-ID, else its Original-Envelope-Id, else In-Reply-To.
	OriginalMessageID string
	ReportingUA       string // MDN Reporting-UA, or DSN Reporting-MTA
	OriginalRecipient string
	FinalRecipient    string // MDN only; DSN recipients are in Recipients
	// Disposition is the MDN disposition type; empty for a DSN.
	Disposition Disposition
	Modifiers   []string // MDN disposition modifiers, e.g. "error"
	// FinalDelivery reports that the MDN carries the Direct
	// X-DIRECT-FINAL-DESTINATION-DELIVERY extension field (among its
	// disposition-notification fields, or in its own header).
	FinalDelivery bool
	// Reason is the MDN Failure/Error text or the first failed (else first)
	// DSN recipient's Diagnostic-Code or Status. It is remote text: treat it
	// as untrusted and keep it out of logs beyond a length-limited field.
	Reason     string
	EnvelopeID string // DSN Original-Envelope-Id
	Recipients []RecipientStatus
}

// Failed reports whether the report means the delivery failed: a failed MDN,
// an MDN with the error modifier, or a DSN with a failed recipient.
func (r *Report) Failed() bool {
	if r.Kind == KindMDN {
		if r.Disposition == Failed {
			return true
		}
		for _, m := range r.Modifiers {
			if m == "error" || m == "failed" {
				return true
			}
		}
		return false
	}
	for _, rs := range r.Recipients {
		if rs.Action == ActionFailed {
			return true
		}
	}
	return false
}

// ErrNotReport is returned (wrapped) when the input is a well-formed message
// that is neither an MDN nor a DSN.
var ErrNotReport = errors.New("not a disposition or delivery status report")

// ErrMalformed is returned (wrapped) when the input is a report (a
// multipart/report, or a message carrying a disposition-notification or
// delivery-status part) that cannot be read. It is still a report: no MDN
// may answer it (RFC 8098 section 2).
var ErrMalformed = errors.New("malformed report")

const (
	maxDepth = 6
	maxParts = 64
)

// Parse recognises an MDN or DSN in raw (a plain MIME message, already
// unwrapped from S/MIME). It returns an error wrapping ErrNotReport for
// ordinary mail and one wrapping ErrMalformed for a report it cannot read.
func Parse(raw []byte) (*Report, error) {
	e, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("mdn: parse: header: %w", err)
	}
	top, _, _ := e.Header.ContentType()
	isReport := top == "multipart/report"
	p := reportParts{}
	if err := p.collect(e, 0); err != nil {
		if isReport {
			return nil, fmt.Errorf("mdn: parse: %w: %w", ErrMalformed, err)
		}
		return nil, fmt.Errorf("mdn: parse: %w", err)
	}
	var r *Report
	switch {
	case p.mdn != nil:
		r, err = parseMDN(p.mdn)
		if err == nil && r.OriginalMessageID == "" {
			r.OriginalMessageID = msgID(e.Header.Get("In-Reply-To"))
		}
		if err == nil && e.Header.Has(FinalDeliveryField) {
			// The guide's field belongs among the notification's fields;
			// some HISPs put it in the MDN's own header instead.
			r.FinalDelivery = true
		}
	case p.dsn != nil:
		r, err = parseDSN(p.dsn, p.returned)
		if err == nil && r.OriginalMessageID == "" {
			// Neither the returned header nor an envelope id: some
			// reporting MTAs thread the report to the message instead.
			r.OriginalMessageID = msgID(e.Header.Get("In-Reply-To"))
		}
	case isReport:
		return nil, fmt.Errorf("mdn: parse: %w: multipart/report without a disposition-notification or delivery-status part", ErrMalformed)
	default:
		return nil, fmt.Errorf("mdn: parse: %w", ErrNotReport)
	}
	if err != nil {
		return nil, fmt.Errorf("mdn: parse: %w: %w", ErrMalformed, err)
	}
	r.MessageID = msgID(e.Header.Get("Message-Id"))
	return r, nil
}

// reportParts holds the bodies of the parts a report is made of.
type reportParts struct {
	mdn, dsn, returned []byte
	parts              int
}

func (p *reportParts) collect(e *gomessage.Entity, depth int) error {
	if depth > maxDepth {
		return errors.New("multipart nesting too deep")
	}
	if p.parts++; p.parts > maxParts {
		return errors.New("too many parts")
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
				return err
			}
			if err := p.collect(part, depth+1); err != nil {
				return err
			}
		}
	}
	mt, _, _ := e.Header.ContentType()
	var dst *[]byte
	switch mt {
	case "message/disposition-notification":
		dst = &p.mdn
	case "message/delivery-status", "message/global-delivery-status":
		dst = &p.dsn
	case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
		dst = &p.returned
	default:
		return nil
	}
	if *dst != nil {
		return nil // the first part of each kind counts
	}
	body, err := io.ReadAll(io.LimitReader(e.Body, 1<<20))
	if err != nil {
		return err
	}
	*dst = body
	return nil
}

func parseMDN(body []byte) (*Report, error) {
	blocks := parseFieldBlocks(body)
	if len(blocks) == 0 {
		return nil, errors.New("empty disposition notification")
	}
	f := blocks[0]
	d, err := parseDisposition(f["disposition"])
	if err != nil {
		return nil, err
	}
	r := &Report{
		Kind:              KindMDN,
		OriginalMessageID: msgID(f["original-message-id"]),
		ReportingUA:       f["reporting-ua"],
		OriginalRecipient: addressValue(f["original-recipient"]),
		FinalRecipient:    addressValue(f["final-recipient"]),
		Disposition:       d.Type,
		Modifiers:         d.Modifiers,
	}
	_, r.FinalDelivery = f[strings.ToLower(FinalDeliveryField)]
	for _, k := range []string{"failure", "error", "warning"} {
		if v := f[k]; v != "" {
			r.Reason = v
			break
		}
	}
	return r, nil
}

func parseDSN(body, returned []byte) (*Report, error) {
	blocks := parseFieldBlocks(body)
	if len(blocks) == 0 {
		return nil, errors.New("empty delivery status")
	}
	msg := blocks[0]
	r := &Report{
		Kind:        KindDSN,
		ReportingUA: addressValue(msg["reporting-mta"]),
		EnvelopeID:  msg["original-envelope-id"],
	}
	for _, b := range blocks[1:] {
		rs := RecipientStatus{
			FinalRecipient:    addressValue(b["final-recipient"]),
			OriginalRecipient: addressValue(b["original-recipient"]),
			Action:            Action(strings.ToLower(strings.TrimSpace(stripComments(b["action"])))),
			Status:            strings.TrimSpace(stripComments(b["status"])),
			DiagnosticCode:    b["diagnostic-code"],
		}
		if rs.FinalRecipient == "" && rs.Action == "" {
			continue
		}
		r.Recipients = append(r.Recipients, rs)
	}
	if len(r.Recipients) == 0 {
		return nil, errors.New("delivery status without recipient blocks")
	}
	r.Reason = dsnReason(r.Recipients)
	if len(returned) > 0 {
		if h, err := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(returned), strings.NewReader("\r\n\r\n")))); err == nil {
			r.OriginalMessageID = msgID(h.Get("Message-Id"))
		}
	}
	if r.OriginalMessageID == "" {
		r.OriginalMessageID = msgID(r.EnvelopeID)
	}
	return r, nil
}

func dsnReason(rs []RecipientStatus) string {
	pick := rs[0]
	for _, s := range rs {
		if s.Action == ActionFailed {
			pick = s
			break
		}
	}
	if pick.DiagnosticCode != "" {
		return pick.DiagnosticCode
	}
	return pick.Status
}
