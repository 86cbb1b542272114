package packet

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"strings"

	"github.com/go-pdf/fpdf"
)

// Image records larger than this many pixels are refused rather than
// decoded, so one attachment cannot exhaust memory.
const maxImagePixels = 60_000_000

// drawRecord appends the pages of a non-PDF record to d.
func drawRecord(d *fpdf.Fpdf, i, n int, r Record, kind recordKind) error {
	tr := d.UnicodeTranslatorFromDescriptor("")
	caption := fmt.Sprintf("Record %d of %d: %s", i+1, n, strings.TrimSpace(r.Title))
	switch kind {
	case kindPNG, kindJPEG:
		return drawImage(d, tr, fmt.Sprintf("record-%d", i+1), caption, r.Data, kind)
	case kindCCDA:
		doc, err := ExtractCCDA(r.Data)
		if err != nil {
			return err
		}
		drawCCDA(d, tr, caption, doc)
		return nil
	case kindText:
		drawText(d, tr, caption, string(r.Data))
		return nil
	}
	return fmt.Errorf("kind %s: %w", kind.label(), ErrUnsupportedMedia)
}

// recordHeader starts a record's first page with its caption.
func recordHeader(d *fpdf.Fpdf, tr func(string) string, caption string) {
	d.AddPage()
	d.SetFont("Helvetica", "B", 11)
	d.MultiCell(0, 6, tr(clean(caption)), "B", "L", false)
	d.Ln(3)
}

// drawImage places one image on its own page, scaled to fit inside the
// margins below the caption, keeping its aspect ratio, and centred.
func drawImage(d *fpdf.Fpdf, tr func(string) string, name, caption string, data []byte, kind recordKind) error {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if (kind == kindPNG) != (format == "png") || (kind == kindJPEG) != (format == "jpeg") {
		return fmt.Errorf("image: content is %s, labelled %s", format, kind.label())
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxImagePixels {
		return fmt.Errorf("image: %dx%d pixels is outside the accepted size", cfg.Width, cfg.Height)
	}
	opts := fpdf.ImageOptions{ImageType: "JPG"}
	if kind == kindPNG {
		// fpdf does not read every PNG variant (16-bit, interlaced), and a
		// failed image poisons the whole document, so flatten it first.
		flat, err := flattenPNG(data)
		if err != nil {
			return err
		}
		data, opts.ImageType = flat, "PNG"
	} else if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	recordHeader(d, tr, caption)
	info := d.RegisterImageOptionsReader(name, opts, bytes.NewReader(data))
	if err := d.Error(); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	pageW, pageH := d.GetPageSize()
	left, _, right, bottom := d.GetMargins()
	top := d.GetY()
	boxW, boxH := pageW-left-right, pageH-top-bottom
	const mmPerPt = 25.4 / 72
	w, h := info.Width()*mmPerPt, info.Height()*mmPerPt
	scale := min(boxW/w, boxH/h)
	w, h = w*scale, h*scale
	d.ImageOptions(name, left+(boxW-w)/2, top, w, h, false, opts, 0, "")
	return d.Error()
}

// flattenPNG decodes a PNG and re-encodes it as 8-bit RGB on white.
func flattenPNG(data []byte) ([]byte, error) {
	src, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Over)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, dst); err != nil {
		return nil, fmt.Errorf("image: re-encode: %w", err)
	}
	return buf.Bytes(), nil
}

// drawText renders plain text, keeping its line breaks and wrapping long
// lines. Form feeds start a new page.
func drawText(d *fpdf.Fpdf, tr func(string) string, caption, text string) {
	recordHeader(d, tr, caption)
	d.SetFont("Courier", "", 9.5)
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	for i, page := range strings.Split(text, "\f") {
		if i > 0 {
			d.AddPage()
		}
		for _, line := range strings.Split(page, "\n") {
			line = strings.ReplaceAll(line, "\t", "    ")
			if strings.TrimSpace(line) == "" {
				d.Ln(4.2)
				continue
			}
			d.MultiCell(0, 4.2, tr(clean(line)), "", "L", false)
		}
	}
}

// drawCCDA renders a C-CDA's title, then each section title in bold
// followed by its narrative lines.
func drawCCDA(d *fpdf.Fpdf, tr func(string) string, caption string, doc *CCDA) {
	recordHeader(d, tr, caption)
	if doc.Title != "" {
		d.SetFont("Helvetica", "B", 13)
		d.MultiCell(0, 7, tr(clean(doc.Title)), "", "L", false)
		d.Ln(2)
	}
	if len(doc.Sections) == 0 {
		d.SetFont("Helvetica", "I", 10)
		d.MultiCell(0, lineHeight, "This document has no narrative sections.", "", "L", false)
	}
	for _, s := range doc.Sections {
		indent := float64(min(s.Depth, 4)) * 5
		title := s.Title
		if title == "" {
			title = "Untitled section"
		}
		d.SetX(marginMM + indent)
		d.SetFont("Helvetica", "B", 11)
		d.MultiCell(0, 6, tr(clean(title)), "", "L", false)
		d.SetFont("Helvetica", "", 10)
		for _, l := range s.Lines {
			d.SetX(marginMM + indent)
			d.MultiCell(0, lineHeight, tr(clean(l)), "", "L", false)
		}
		d.Ln(2)
	}
}
