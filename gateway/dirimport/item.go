package dirimport

import (
	"fmt"
	"iter"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

// Item is one unit of an import: a directory entry to write and the source
// rows that were left out of it. Entry is nil when no entry could be made.
type Item struct {
	// Row is where the entry starts in the source: the 1-based CSV line for
	// NPPES (the header is line 1), the 1-based Bundle.entry index for FHIR.
	Row     int
	Entry   *gateway.Entry
	Skipped []RowError
}

// RowError says why one source row (or one field of it) was not imported.
type RowError struct {
	Row    int    // 1-based line or bundle entry index, as in Item.Row
	Field  string // the column or FHIR element at fault, e.g. "NPI" or "PractitionerRole/r1.organization"
	Reason string
}

// String reads "row 5: NPI: ...", the form Summary.String lists.
func (e RowError) String() string {
	return fmt.Sprintf("row %d: %s: %s", e.Row, e.Field, e.Reason)
}

// Rows is a parsed source, ready for Apply.
type Rows struct {
	// Total is the number of items when known in advance (a FHIR bundle);
	// 0 for a stream such as the NPPES file.
	Total int
	all   iter.Seq2[Item, error]
}

// All yields the items in the order Apply writes them. A non-nil error is
// fatal (the source cannot be read further) and ends the sequence.
func (r Rows) All() iter.Seq2[Item, error] {
	if r.all == nil {
		return func(func(Item, error) bool) {}
	}
	return r.all
}

// ItemRows wraps items already in memory, in write order (parents first).
func ItemRows(items []Item) Rows {
	return Rows{Total: len(items), all: func(yield func(Item, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}}
}

// Summary counts what an import did.
type Summary struct {
	Added, Updated, Unchanged int
	Skipped                   []RowError
}

// String is a one-line count followed by one line per skipped row.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "added %d, updated %d, unchanged %d, skipped %d", s.Added, s.Updated, s.Unchanged, len(s.Skipped))
	for _, e := range s.Skipped {
		b.WriteString("\n  ")
		b.WriteString(e.String())
	}
	return b.String()
}
