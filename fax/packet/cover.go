package packet

import (
	"fmt"
	"strings"

	"github.com/go-pdf/fpdf"
)

// confidentialityNotice is printed on every cover sheet.
const confidentialityNotice = "CONFIDENTIAL HEALTH INFORMATION. The pages that follow contain " +
	"protected health information that federal and state privacy law, including HIPAA, keeps " +
	"confidential. They are meant only for the recipient named on this sheet, for the care of the " +
	"patient being referred. If this fax reached you by mistake, do not read, copy, share or act on " +
	"it: telephone the sender at the callback number above at once and destroy every page you received."

// part2Notice is printed when the packet holds records covered by
// 42 CFR part 2 (substance use disorder treatment): the regulation's own
// abbreviated redisclosure statement, 42 CFR 2.32(a)(2), word for word.
const part2Notice = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."

// drawCover writes the cover sheet. Page totals are aliases, filled in by
// Render once the records have been counted.
func drawCover(d *fpdf.Fpdf, tr func(string) string, p *Packet, kinds []recordKind) {
	d.AddPage()
	d.SetFont("Helvetica", "B", 20)
	title := "FAX: MEDICAL REFERRAL"
	if p.Answer != nil {
		title = "FAX: MORE INFORMATION FOR A REFERRAL"
	}
	d.CellFormat(0, 10, title, "", 1, "L", false, 0, "")
	d.SetFont("Helvetica", "", 10)
	line := "Date: " + p.Date.Format("January 2, 2006")
	if p.ReferralID != "" {
		line += "    Referral ID: " + p.ReferralID
	}
	d.CellFormat(0, 6, tr(clean(line)), "", 1, "L", false, 0, "")
	d.CellFormat(0, 6, "Total pages: "+totalAlias+" (including this cover sheet)", "", 1, "L", false, 0, "")
	d.Ln(3)

	party(d, tr, "TO", []string{
		p.Recipient.Name,
		p.Recipient.Organization,
		labelled("Fax", p.Recipient.Fax),
	})
	party(d, tr, "FROM", []string{
		p.Sender.Practice,
		labelled("Referring provider", p.Sender.Provider),
		labelled("NPI", p.Sender.NPI),
		labelled("Callback phone", p.Sender.CallbackPhone),
		labelled("Fax", p.Sender.Fax),
	})

	heading(d, "REFERRAL")
	d.SetFont("Helvetica", "", 10)
	prio := string(p.Priority)
	if prio == "" {
		prio = string(PriorityRoutine)
	}
	d.CellFormat(0, lineHeight, "Priority: "+strings.ToUpper(tr(clean(prio))), "", 1, "L", false, 0, "")
	reason := strings.TrimSpace(p.Reason)
	if reason == "" {
		reason = "(not stated)"
	}
	d.MultiCell(0, lineHeight, tr("Reason: "+clean(reason)), "", "L", false)
	d.Ln(2)
	if a := p.Answer; a != nil {
		heading(d, "ANSWER TO YOUR REQUEST FOR MORE INFORMATION")
		d.SetFont("Helvetica", "", 10)
		if q := strings.TrimSpace(a.Question); q != "" {
			d.MultiCell(0, lineHeight, tr("You asked: "+clean(q)), "", "L", false)
		}
		d.MultiCell(0, lineHeight, tr("Answer: "+clean(strings.TrimSpace(a.Text))), "", "L", false)
		d.Ln(2)
	}

	heading(d, "RECORDS ENCLOSED")
	d.SetFont("Helvetica", "", 10)
	if len(p.Records) == 0 {
		d.CellFormat(0, lineHeight, "None: this referral is the cover sheet alone.", "", 1, "L", false, 0, "")
	}
	for i, r := range p.Records {
		title := strings.TrimSpace(r.Title)
		if title == "" {
			title = "Untitled record"
		}
		d.MultiCell(0, lineHeight, tr(fmt.Sprintf("%d. %s [%s, pages: %s]", i+1, clean(title), kinds[i].label(), recordAlias(i))), "", "L", false)
	}
	d.Ln(3)

	notice(d, confidentialityNotice)
	if p.Part2 {
		d.Ln(2)
		notice(d, part2Notice)
	}
}

func heading(d *fpdf.Fpdf, s string) {
	d.SetFont("Helvetica", "B", 11)
	d.CellFormat(0, 7, s, "B", 1, "L", false, 0, "")
	d.Ln(1)
}

// party prints a TO or FROM block, skipping empty lines.
func party(d *fpdf.Fpdf, tr func(string) string, title string, lines []string) {
	heading(d, title)
	d.SetFont("Helvetica", "", 10)
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if i == 0 {
			d.SetFont("Helvetica", "B", 10)
		}
		d.MultiCell(0, lineHeight, tr(clean(l)), "", "L", false)
		d.SetFont("Helvetica", "", 10)
	}
	d.Ln(2)
}

func labelled(label, value string) string {
	if strings.TrimSpace(value) == "" {
		return ""
	}
	return label + ": " + value
}

// notice prints a boxed notice in a smaller font.
func notice(d *fpdf.Fpdf, text string) {
	d.SetFont("Helvetica", "", 9)
	d.MultiCell(0, 4.5, text, "1", "L", false)
}

// clean removes control characters that would garble a PDF text line.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t', r == '\n', r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
}
