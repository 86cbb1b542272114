package packet

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/go-pdf/fpdf"
)

// Page geometry: US Letter in millimetres, the paper fax machines print on.
const (
	pageSize   = "Letter"
	marginMM   = 18.0
	lineHeight = 5.0
)

// Aliases replaced in the cover sheet once every page has been counted.
const totalAlias = "{#packet-total#}"

func recordAlias(i int) string { return "{#record-" + strconv.Itoa(i+1) + "#}" }

// segment is a run of pages in the final packet: either pages drawn by
// fpdf or an enclosed PDF record taken as it is.
type segment struct {
	doc *fpdf.Fpdf
	raw []byte
}

// Render draws the packet: the cover sheet first, then every record in
// order. The cover's page total includes the cover itself.
func Render(p Packet) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("packet: render: %w", err)
	}
	kinds := make([]recordKind, len(p.Records))
	for i, r := range p.Records {
		k, err := kindOf(r.MediaType)
		if err != nil {
			return nil, fmt.Errorf("packet: render record %d: %w", i+1, err)
		}
		kinds[i] = k
	}

	first := newDoc(p)
	coverTr := first.UnicodeTranslatorFromDescriptor("")
	drawCover(first, coverTr, &p, kinds)
	total := first.PageNo()
	segs := []segment{{doc: first}}
	cur := first
	recordPages := make([]int, len(p.Records))

	for i, r := range p.Records {
		if kinds[i] == kindPDF {
			n, err := PageCount(r.Data)
			if err != nil {
				return nil, fmt.Errorf("packet: render record %d: %w", i+1, err)
			}
			recordPages[i] = n
			total += n
			segs = append(segs, segment{raw: r.Data})
			cur = nil
			continue
		}
		if cur == nil {
			cur = newDoc(p)
			segs = append(segs, segment{doc: cur})
		}
		before := cur.PageNo()
		if err := drawRecord(cur, i, len(p.Records), r, kinds[i]); err != nil {
			return nil, fmt.Errorf("packet: render record %d: %w", i+1, err)
		}
		if err := cur.Error(); err != nil {
			return nil, fmt.Errorf("packet: render record %d: %w", i+1, err)
		}
		recordPages[i] = cur.PageNo() - before
		total += recordPages[i]
	}

	first.RegisterAlias(totalAlias, strconv.Itoa(total))
	for i, n := range recordPages {
		first.RegisterAlias(recordAlias(i), strconv.Itoa(n))
	}
	docs := make([][]byte, 0, len(segs))
	for _, s := range segs {
		if s.raw != nil {
			docs = append(docs, s.raw)
			continue
		}
		var buf bytes.Buffer
		if err := s.doc.Output(&buf); err != nil {
			return nil, fmt.Errorf("packet: render: write pages: %w", err)
		}
		docs = append(docs, buf.Bytes())
	}
	return merge(docs)
}

// newDoc starts an fpdf document whose metadata depends only on p, so the
// same packet renders to the same bytes.
func newDoc(p Packet) *fpdf.Fpdf {
	d := fpdf.New("P", "mm", pageSize, "")
	d.SetMargins(marginMM, marginMM, marginMM)
	d.SetAutoPageBreak(true, marginMM)
	d.SetCreationDate(p.Date.UTC())
	d.SetModificationDate(p.Date.UTC())
	d.SetCatalogSort(true)
	d.SetCompression(true)
	d.SetProducer("referralgw fax/packet", false)
	d.SetCreator("referralgw", false)
	d.SetTitle("Referral packet", false)
	return d
}
