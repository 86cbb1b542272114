package packet

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
)

// Media types a Record may carry.
const (
	MediaPDF   = "application/pdf"
	MediaPNG   = "image/png"
	MediaJPEG  = "image/jpeg"
	MediaCCDA  = "application/hl7-v3+xml" // C-CDA; application/xml and text/xml are accepted too
	MediaPlain = "text/plain"
)

// Priority of a referral as printed on the cover sheet.
type Priority string

// Referral priorities, aligned with FHIR request priority codes.
const (
	PriorityRoutine Priority = "routine"
	PriorityUrgent  Priority = "urgent"
	PriorityASAP    Priority = "asap"
	PriorityStat    Priority = "stat"
)

// Sender is the referring side as it appears on the cover sheet.
type Sender struct {
	Practice      string
	Provider      string // the referring clinician
	NPI           string // optional
	CallbackPhone string // where the recipient calls back
	Fax           string // optional return fax number
}

// Recipient is the receiving side as it appears on the cover sheet.
type Recipient struct {
	Name         string // person or department
	Organization string // optional
	Fax          string
}

// Record is one enclosed document, rendered after the cover sheet in the
// order given.
type Record struct {
	Title     string // e.g. "Progress note 2026-03-02"
	MediaType string // one of the Media* constants
	Data      []byte
}

// Packet is everything Render needs.
type Packet struct {
	Date       time.Time // printed on the cover and used as the PDF creation date
	ReferralID string    // optional identifier printed on the cover; not PHI
	Sender     Sender
	Recipient  Recipient
	Reason     string
	Priority   Priority
	Part2      bool // records include 42 CFR Part 2 data: print the redisclosure notice
	Records    []Record
	// Answer, when set, makes this packet the referrer's answer to the
	// recipient's request for more information: the cover says so and
	// prints the question and the answer.
	Answer *Answer
}

// Answer is the referrer's answer to a request for more information.
type Answer struct {
	Question string // what the recipient asked
	Text     string // the referrer's answer
}

// recordKind is how a record is turned into pages.
type recordKind int

const (
	kindPDF recordKind = iota + 1
	kindPNG
	kindJPEG
	kindCCDA
	kindText
)

func (k recordKind) label() string {
	switch k {
	case kindPDF:
		return "PDF"
	case kindPNG:
		return "PNG image"
	case kindJPEG:
		return "JPEG image"
	case kindCCDA:
		return "C-CDA document"
	case kindText:
		return "Text"
	}
	return "unknown"
}

// kindOf maps a record's media type (parameters ignored) to its kind.
func kindOf(mediaType string) (recordKind, error) {
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return 0, fmt.Errorf("media type %q: %w", mediaType, err)
	}
	switch strings.ToLower(mt) {
	case MediaPDF:
		return kindPDF, nil
	case MediaPNG:
		return kindPNG, nil
	case MediaJPEG, "image/jpg":
		return kindJPEG, nil
	case MediaCCDA, "application/xml", "text/xml", "application/cda+xml":
		return kindCCDA, nil
	case MediaPlain:
		return kindText, nil
	}
	return 0, fmt.Errorf("media type %q: %w", mediaType, ErrUnsupportedMedia)
}

// ErrUnsupportedMedia is returned by Render for a record it cannot place
// on a page.
var ErrUnsupportedMedia = errors.New("unsupported media type")

// validate refuses a packet that would produce an unusable cover sheet.
func (p *Packet) validate() error {
	var missing []string
	if p.Date.IsZero() {
		missing = append(missing, "date")
	}
	if strings.TrimSpace(p.Sender.Practice) == "" {
		missing = append(missing, "sender practice")
	}
	if strings.TrimSpace(p.Sender.CallbackPhone) == "" {
		missing = append(missing, "sender callback phone")
	}
	if strings.TrimSpace(p.Recipient.Name) == "" {
		missing = append(missing, "recipient name")
	}
	if strings.TrimSpace(p.Recipient.Fax) == "" {
		missing = append(missing, "recipient fax")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}
