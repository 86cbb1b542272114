package packet

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CCDA is the readable part of a C-CDA document: its title and, for every
// section in document order, the section title and narrative text.
type CCDA struct {
	Title    string
	Sections []Section
}

// Section is one C-CDA section. Depth is 0 for top-level sections and grows
// for nested ones. Lines are the narrative block (section/text) flattened to
// text: one line per paragraph, list item or table row, cells joined by " | ".
type Section struct {
	Title string
	Depth int
	Lines []string
}

// maxCCDADepth bounds element nesting so a hostile document cannot make the
// extractor's stacks grow without limit.
const maxCCDADepth = 256

// ExtractCCDA reads a C-CDA (HL7 CDA R2) XML document and returns its
// section titles and narrative text. Coded entries are ignored: the
// narrative is what a human reader of the fax needs. It does not resolve
// external entities or fetch anything.
func ExtractCCDA(data []byte) (*CCDA, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = charsetReader
	x := extractor{doc: &CCDA{}}
	sawRoot := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("packet: extract C-CDA: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !sawRoot {
				if t.Name.Local != "ClinicalDocument" {
					return nil, fmt.Errorf("packet: extract C-CDA: root element is %q, want ClinicalDocument", t.Name.Local)
				}
				sawRoot = true
			}
			if len(x.stack) >= maxCCDADepth {
				return nil, fmt.Errorf("packet: extract C-CDA: elements nested deeper than %d", maxCCDADepth)
			}
			x.start(t.Name.Local)
		case xml.EndElement:
			x.end(t.Name.Local)
		case xml.CharData:
			x.text(string(t))
		}
	}
	if !sawRoot {
		return nil, fmt.Errorf("packet: extract C-CDA: no ClinicalDocument element")
	}
	return x.doc, nil
}

// extractor walks the token stream keeping the element path and the
// section being filled.
type extractor struct {
	doc       *CCDA
	stack     []string
	sections  []int // indexes into doc.Sections of the open section elements
	line      strings.Builder
	cell      bool // a table cell was written on the current line
	cellStart bool // a cell separator was just written
	space     bool // the previous text chunk ended in whitespace
}

func (x *extractor) parent() string {
	if len(x.stack) < 2 {
		return ""
	}
	return x.stack[len(x.stack)-2]
}

// inNarrative reports whether the current element is inside the text
// element of the innermost open section.
func (x *extractor) inNarrative() bool {
	for i := len(x.stack) - 1; i > 0; i-- {
		if x.stack[i] == "section" {
			return false
		}
		if x.stack[i] == "text" && x.stack[i-1] == "section" {
			return true
		}
	}
	return false
}

func (x *extractor) current() *Section {
	if len(x.sections) == 0 {
		return nil
	}
	return &x.doc.Sections[x.sections[len(x.sections)-1]]
}

func (x *extractor) start(name string) {
	x.stack = append(x.stack, name)
	switch {
	case name == "section":
		x.doc.Sections = append(x.doc.Sections, Section{Depth: len(x.sections)})
		x.sections = append(x.sections, len(x.doc.Sections)-1)
	case (name == "td" || name == "th") && x.inNarrative():
		if x.cell {
			x.line.WriteString(" | ")
		}
		x.cell, x.cellStart, x.space = true, true, false
	case name == "br" && x.inNarrative():
		x.flush()
	}
}

func (x *extractor) end(name string) {
	if x.inNarrative() {
		switch name {
		case "paragraph", "item", "tr", "caption", "text", "list", "table":
			x.flush()
		}
	}
	if name == "section" && len(x.sections) > 0 {
		x.sections = x.sections[:len(x.sections)-1]
	}
	if len(x.stack) > 0 {
		x.stack = x.stack[:len(x.stack)-1]
	}
}

func (x *extractor) text(s string) {
	if len(x.stack) == 0 {
		return
	}
	name := x.stack[len(x.stack)-1]
	if name == "title" {
		switch x.parent() {
		case "ClinicalDocument":
			x.doc.Title = joinSpace(x.doc.Title, s)
			return
		case "section":
			if sec := x.current(); sec != nil {
				sec.Title = joinSpace(sec.Title, s)
			}
			return
		}
	}
	if !x.inNarrative() {
		return
	}
	raw := s
	s = collapseSpace(raw)
	if s == "" {
		x.space = x.space || raw != ""
		return
	}
	// Chunks split by inline markup (<content>, <sup>) join without a
	// space unless the source had whitespace between them.
	if x.line.Len() > 0 && !x.cellStart && (x.space || startsWithSpace(raw)) {
		x.line.WriteByte(' ')
	}
	x.line.WriteString(s)
	x.space = endsWithSpace(raw)
	x.cellStart = false
}

func startsWithSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

func endsWithSpace(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsSpace(r)
}

// flush ends the current narrative line.
func (x *extractor) flush() {
	line := strings.TrimSpace(x.line.String())
	x.line.Reset()
	x.cell, x.cellStart, x.space = false, false, false
	if line == "" {
		return
	}
	if sec := x.current(); sec != nil {
		sec.Lines = append(sec.Lines, line)
	}
}

func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

func joinSpace(a, b string) string {
	b = collapseSpace(b)
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

// charsetReader accepts the single-byte encodings C-CDA files are
// sometimes declared in, besides UTF-8.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252":
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(b))
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported charset %q", label)
}
