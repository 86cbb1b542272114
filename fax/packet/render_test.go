package packet

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// pdftotext extracts the text of pages first..last (0 = to the end) with
// poppler's pdftotext. Without it the test is skipped locally and fails
// under CI=true, where it must be installed.
func pdftotext(t *testing.T, pdf []byte, first, last int) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext not found: install poppler-utils (apt-get install -y poppler-utils); golden text tests need it in CI")
		}
		t.Skip("pdftotext not found: install poppler-utils to run golden text tests")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "packet.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "-enc", "UTF-8", "-f", fmt.Sprint(first)}
	if last > 0 {
		args = append(args, "-l", fmt.Sprint(last))
	}
	out, err := exec.Command(bin, append(args, in, "-")...).Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// syntheticPDF draws an n-page PDF, the kind of record an EHR attaches.
func syntheticPDF(t testing.TB, title string, n int) []byte {
	t.Helper()
	d := fpdf.New("P", "mm", "Letter", "")
	d.SetCreationDate(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	d.SetModificationDate(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	d.SetCatalogSort(true)
	d.SetFont("Helvetica", "", 12)
	for i := 1; i <= n; i++ {
		d.AddPage()
		d.CellFormat(0, 10, fmt.Sprintf("%s - page %d of %d", title, i, n), "", 1, "L", false, 0, "")
	}
	var buf bytes.Buffer
	if err := d.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// syntheticImage draws a gradient, encoded as PNG or JPEG.
func syntheticImage(t testing.TB, format string, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 200})
		}
	}
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readCCDA(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "discharge_summary.ccda.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// basePacket is a synthetic referral: invented people, numbers and NPI.
func basePacket() Packet {
	return Packet{
		Date:       time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC),
		ReferralID: "REF-2026-000123",
		Sender: Sender{
			Practice:      "Maple Grove Family Medicine (TEST)",
			Provider:      "Dr. Alex Placeholder, MD",
			NPI:           "1234567893",
			CallbackPhone: "(555) 234-0100",
			Fax:           "(555) 234-0101",
		},
		Recipient: Recipient{
			Name:         "Dr. Jordan Sample",
			Organization: "Riverside Pulmonology (TEST)",
			Fax:          "+1 555 345 0199",
		},
		Reason:   "Evaluation of persistent cough after pneumonia; please assess for follow-up imaging.",
		Priority: PriorityUrgent,
	}
}

func TestRenderGolden(t *testing.T) {
	labs := syntheticPDF(t, "Synthetic lab report", 2)
	records := []Record{
		{Title: "Lab results (PDF)", MediaType: MediaPDF, Data: labs},
		{Title: "Chest X-ray snapshot", MediaType: MediaPNG, Data: syntheticImage(t, "png", 300, 200)},
		{Title: "Wound photo", MediaType: MediaJPEG, Data: syntheticImage(t, "jpeg", 200, 400)},
		{Title: "Discharge summary", MediaType: MediaCCDA, Data: readCCDA(t)},
		{Title: "Referral letter", MediaType: "text/plain; charset=utf-8", Data: []byte("Dear colleague,\n\n\tThank you for seeing this patient.\n\nSincerely,\nDr. Alex Placeholder")},
	}
	tests := []struct {
		name      string
		part2     bool
		records   []Record
		wantPages int
	}{
		{name: "cover_only", wantPages: 1},
		{name: "records_part2", part2: true, records: records, wantPages: 7},
		{name: "records_no_part2", records: records, wantPages: 7},
		{name: "pdf_first_then_ccda", records: []Record{records[0], records[3]}, wantPages: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePacket()
			p.Part2 = tt.part2
			p.Records = tt.records
			out, err := Render(p)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			n, err := PageCount(out)
			if err != nil {
				t.Fatalf("PageCount: %v", err)
			}
			if n != tt.wantPages {
				t.Errorf("page count = %d, want %d", n, tt.wantPages)
			}
			cover := pdftotext(t, out, 1, 1)
			if want := fmt.Sprintf("Total pages: %d (including this cover sheet)", tt.wantPages); !strings.Contains(cover, want) {
				t.Errorf("cover does not say %q:\n%s", want, cover)
			}
			if got := strings.Contains(strings.Join(strings.Fields(cover), " "), "42 CFR part 2 prohibits unauthorized use or disclosure of these records."); got != tt.part2 {
				t.Errorf("Part 2 notice present = %v, want %v", got, tt.part2)
			}
			if !strings.Contains(cover, "CONFIDENTIAL HEALTH INFORMATION") {
				t.Error("cover lacks the confidentiality notice")
			}
			if strings.Contains(cover, "{#") {
				t.Errorf("cover still holds an unreplaced alias:\n%s", cover)
			}
			golden(t, tt.name+".cover.txt", cover)
			if len(tt.records) > 0 {
				golden(t, tt.name+".records.txt", pdftotext(t, out, 2, 0))
			}
		})
	}
}

func TestRenderDeterministicWithoutPDFRecords(t *testing.T) {
	p := basePacket()
	p.Records = []Record{
		{Title: "Snapshot", MediaType: MediaPNG, Data: syntheticImage(t, "png", 40, 30)},
		{Title: "Summary", MediaType: MediaCCDA, Data: readCCDA(t)},
	}
	a, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two renders of the same packet differ")
	}
	if !bytes.Contains(a, []byte("D:20260314093000")) {
		t.Error("PDF creation date is not the packet date")
	}
}

func TestRenderLongTextSpansPages(t *testing.T) {
	p := basePacket()
	var sb strings.Builder
	for i := range 200 {
		fmt.Fprintf(&sb, "Line %03d of a long synthetic progress note.\n", i+1)
	}
	p.Records = []Record{{Title: "Long note", MediaType: MediaPlain, Data: []byte(sb.String())}}
	out, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := PageCount(out)
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("200 text lines rendered on %d pages in total, want at least 4", n)
	}
	cover := pdftotext(t, out, 1, 1)
	if want := fmt.Sprintf("[Text, pages: %d]", n-1); !strings.Contains(cover, want) {
		t.Errorf("cover does not list the record as %q:\n%s", want, cover)
	}
}

func TestRenderErrors(t *testing.T) {
	png := syntheticImage(t, "png", 10, 10)
	tests := []struct {
		name    string
		mutate  func(*Packet)
		wantErr string
		is      error
	}{
		{"no date", func(p *Packet) { p.Date = time.Time{} }, "missing date", nil},
		{"no recipient fax", func(p *Packet) { p.Recipient.Fax = " " }, "recipient fax", nil},
		{"no callback phone", func(p *Packet) { p.Sender.CallbackPhone = "" }, "callback phone", nil},
		{"unsupported media", func(p *Packet) {
			p.Records = []Record{{Title: "x", MediaType: "application/msword", Data: []byte("x")}}
		}, "record 1", ErrUnsupportedMedia},
		{"bad media type", func(p *Packet) { p.Records = []Record{{MediaType: ";;"}} }, "media type", nil},
		{"broken PDF", func(p *Packet) {
			p.Records = []Record{{Title: "x", MediaType: MediaPDF, Data: []byte("%PDF-1.4 not really")}}
		}, "page count", nil},
		{"broken PNG", func(p *Packet) { p.Records = []Record{{MediaType: MediaPNG, Data: png[:len(png)/2]}} }, "image", nil},
		{"PNG labelled JPEG", func(p *Packet) { p.Records = []Record{{MediaType: MediaJPEG, Data: png}} }, "labelled JPEG", nil},
		{"broken C-CDA", func(p *Packet) {
			p.Records = []Record{{MediaType: MediaCCDA, Data: []byte("<ClinicalDocument>")}}
		}, "C-CDA", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePacket()
			tt.mutate(&p)
			_, err := Render(p)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Render error = %v, want it to mention %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Render error = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

func TestPageCount(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr bool
	}{
		{"three pages", syntheticPDF(t, "x", 3), 3, false},
		{"empty", nil, 0, true},
		{"garbage", []byte("hello"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PageCount(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("PageCount = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// FuzzPageCount gives pdfcpu's reader arbitrary bytes through PageCount: it
// must return an error, not panic, and never claim a document of no pages.
func FuzzPageCount(f *testing.F) {
	f.Add(syntheticPDF(f, "seed", 1))
	f.Add([]byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := PageCount(data)
		if err == nil && n < 1 {
			t.Fatalf("PageCount = %d without error", n)
		}
	})
}

func BenchmarkRender20Pages(b *testing.B) {
	p := basePacket()
	p.Part2 = true
	p.Records = []Record{
		{Title: "Chart extract", MediaType: MediaPDF, Data: syntheticPDF(b, "Chart extract", 15)},
		{Title: "Photo 1", MediaType: MediaJPEG, Data: syntheticImage(b, "jpeg", 800, 600)},
		{Title: "Photo 2", MediaType: MediaPNG, Data: syntheticImage(b, "png", 800, 600)},
		{Title: "Discharge summary", MediaType: MediaCCDA, Data: readCCDA(b)},
		{Title: "Letter", MediaType: MediaPlain, Data: []byte("Dear colleague,\nPlease see the enclosed records.\n")},
	}
	out, err := Render(p)
	if err != nil {
		b.Fatal(err)
	}
	if n, err := PageCount(out); err != nil || n != 20 {
		b.Fatalf("benchmark packet has %d pages (%v), want 20", n, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Render(p); err != nil {
			b.Fatal(err)
		}
	}
}
