package packet

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Document is a plain-text document rendered with the packet's page
// layout, fonts and confidentiality notice, for what the gateway hands to
// people other than a fax recipient (an auditor's compliance receipt).
type Document struct {
	Title string    // printed as the first page's heading and in the PDF metadata
	Date  time.Time // printed under the title and used as the PDF creation date
	Text  string    // the body; line breaks kept, long lines wrapped, form feeds start pages
}

// RenderDocument renders doc as a PDF. Like Render, the same document
// renders to the same bytes.
func RenderDocument(doc Document) ([]byte, error) {
	if strings.TrimSpace(doc.Title) == "" || doc.Date.IsZero() {
		return nil, fmt.Errorf("packet: render document: a title and a date are required")
	}
	d := newDoc(Packet{Date: doc.Date})
	d.SetTitle(doc.Title, true)
	tr := d.UnicodeTranslatorFromDescriptor("")
	d.AddPage()
	d.SetFont("Helvetica", "B", 16)
	d.MultiCell(0, 8, tr(clean(doc.Title)), "", "L", false)
	d.SetFont("Helvetica", "", 10)
	d.CellFormat(0, 6, "Date: "+doc.Date.UTC().Format("January 2, 2006 15:04 UTC"), "", 1, "L", false, 0, "")
	d.Ln(2)
	notice(d, confidentialityNotice)
	d.Ln(3)
	d.SetFont("Courier", "", 8.5)
	for i, page := range strings.Split(strings.ReplaceAll(doc.Text, "\r\n", "\n"), "\f") {
		if i > 0 {
			d.AddPage()
		}
		for _, line := range strings.Split(page, "\n") {
			if strings.TrimSpace(line) == "" {
				d.Ln(3.8)
				continue
			}
			d.MultiCell(0, 3.8, tr(clean(strings.ReplaceAll(line, "\t", "    "))), "", "L", false)
		}
	}
	var buf bytes.Buffer
	if err := d.Output(&buf); err != nil {
		return nil, fmt.Errorf("packet: render document: %w", err)
	}
	return buf.Bytes(), nil
}
