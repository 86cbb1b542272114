package channel

import (
	"fmt"
	"mime"
	"regexp"
	"strings"

	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// Subject returns the subject of a referral message: a fixed word and the
// referral token that replies are matched on, and nothing about the patient.
func Subject(referralID string) string { return "Referral [ref:" + referralID + "]" }

// AnswerSubject is the subject of the referrer's answer to a request for
// more information; it keeps the [ref:<id>] token so replies still match.
func AnswerSubject(referralID string) string {
	return "More information for referral [ref:" + referralID + "]"
}

// subjectFor picks the subject of a delivery by its purpose.
func subjectFor(out *gateway.Outbound) string {
	if out.Delivery != nil && out.Delivery.Purpose == gateway.PurposeAnswer {
		return AnswerSubject(out.Referral.ID)
	}
	return Subject(out.Referral.ID)
}

var refToken = regexp.MustCompile(`\[ref:([A-Za-z0-9\-.]{1,64})\]`)

// ReferralToken returns the referral id carried by a "[ref:<id>]" token in
// subject, as replies keep it ("Re: Referral [ref:…]").
func ReferralToken(subject string) (string, bool) {
	m := refToken.FindStringSubmatch(subject)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Summary renders the human-readable body of a referral message. It is PHI
// (the receiver needs the patient's identifiers) and goes only into the
// encrypted message, never into logs. Text records are appended to it, since
// Direct attachments are documents (C-CDA, PDF, images).
func Summary(out *gateway.Outbound) string {
	r := out.Referral
	var b strings.Builder
	if out.Delivery != nil && out.Delivery.Purpose == gateway.PurposeAnswer {
		fmt.Fprintf(&b, "In answer to your request for more information on referral %s\n\n", r.ID)
		if q := strings.TrimSpace(r.Question); q != "" {
			b.WriteString("You asked:\n" + q + "\n\n")
		}
		b.WriteString("Answer:\n" + strings.TrimSpace(r.Answer) + "\n")
		listRecords(&b, "Added records", out.Records)
		b.WriteString("\nThe referral's details are in our first message, which this one answers.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Referral %s", r.ID)
	if r.Identifier != "" {
		fmt.Fprintf(&b, " (referrer's identifier %s)", r.Identifier)
	}
	b.WriteString("\n\n")
	line := func(label, value string) {
		if strings.TrimSpace(value) != "" {
			fmt.Fprintf(&b, "%-10s %s\n", label+":", value)
		}
	}
	line("Priority", string(r.Priority))
	from := r.Requester.Name
	if r.Requester.NPI != "" {
		from = strings.TrimSpace(from + " (NPI " + r.Requester.NPI + ")")
	}
	if out.Sender != nil {
		from = joinNonEmpty(", ", from, out.Sender.Name)
	}
	line("From", from)
	line("Phone", r.Requester.Phone)
	if out.Receiver != nil {
		to := out.Receiver.Name
		if out.Receiver.NPI != "" {
			to += " (NPI " + out.Receiver.NPI + ")"
		}
		line("To", to)
	}
	p := r.Patient
	patient := joinNonEmpty(" ", p.GivenName, p.FamilyName)
	if p.BirthDate != "" {
		patient = joinNonEmpty(", ", patient, "born "+p.BirthDate)
	}
	patient = joinNonEmpty(", ", patient, p.Gender)
	mrn := "MRN " + p.ID
	if p.System != "" {
		mrn += " (" + p.System + ")"
	}
	line("Patient", joinNonEmpty(", ", patient, mrn))
	reason := r.Reason.Display
	if r.Reason.Code != "" {
		reason = joinNonEmpty(" ", reason, "("+joinNonEmpty(" ", r.Reason.System, r.Reason.Code)+")")
	}
	line("Reason", reason)
	consent := string(r.Consent.Kind)
	if r.Consent.Purpose != "" {
		consent += ", purpose " + r.Consent.Purpose
	}
	if r.Consent.Citation != "" {
		consent += ", " + r.Consent.Citation
	}
	line("Basis", consent)
	if t := strings.TrimSpace(r.ReasonText); t != "" {
		b.WriteString("\nClinical question:\n" + t + "\n")
	}
	listRecords(&b, "Records", out.Records)
	b.WriteString("\nTo answer, reply to this message with \"Accept\", \"Decline\" and a reason, or \"Question\" and what you need, on the first line.\n")
	return b.String()
}

// listRecords writes a heading and one line per record (title, type,
// size), or nothing when there are none.
func listRecords(b *strings.Builder, heading string, recs []gateway.RecordContent) {
	if len(recs) == 0 {
		return
	}
	b.WriteString("\n" + heading + ":\n")
	for _, rec := range recs {
		fmt.Fprintf(b, "- %s (%s, %d bytes)\n", rec.Title, rec.ContentType, len(rec.Content))
	}
}

// Attachments returns the records as the message's attachments, one each.
func Attachments(recs []gateway.RecordContent) []message.Attachment {
	out := make([]message.Attachment, 0, len(recs))
	for _, rec := range recs {
		out = append(out, message.Attachment{Filename: filename(rec.Record), ContentType: rec.ContentType, Content: rec.Content})
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// filename makes a bare, portable file name from a record title, with an
// extension for its content type.
func filename(rec gateway.Record) string {
	base := strings.Trim(unsafeName.ReplaceAllString(rec.Title, "-"), "-.")
	if len(base) > 60 {
		base = base[:60]
	}
	if base == "" {
		base = "record-" + rec.ID
	}
	mt, _, _ := mime.ParseMediaType(rec.ContentType)
	ext := map[string]string{"application/pdf": ".pdf", "application/xml": ".xml", "text/xml": ".xml",
		"image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif", "application/zip": ".zip", "text/plain": ".txt"}[mt]
	if ext != "" && !strings.HasSuffix(strings.ToLower(base), ext) {
		base += ext
	}
	return base
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}
