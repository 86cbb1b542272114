package audit

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"slices"
)

// Report is the result of verifying one or more tenants' chains.
type Report struct {
	Tenants int     // distinct tenants that had at least one entry
	Entries int     // entries read, including those after a break
	Breaks  []Break // the first break of each broken tenant, sorted by tenant; empty => intact
}

// Break pinpoints where one tenant's chain stops being trustworthy.
type Break struct {
	Tenant string
	Seq    int64  // first broken sequence number of that tenant: the first row read that fails to verify
	Reason string // what failed, for a human auditor
}

// OK reports whether every chain verified intact.
func (r Report) OK() bool { return len(r.Breaks) == 0 }

// Verify walks entries ordered by (Tenant, Seq) and reports the first break per tenant: changed row (hash mismatch),
// deleted row (seq gap or prev-hash mismatch), reordered rows. It never stops at the first tenant: all tenants are checked.
//
// Each tenant's rows must arrive in sequence order, but rows of different
// tenants may interleave. Only an error yielded by entries stops the walk; the
// report of what was read so far is returned with it.
func Verify(entries iter.Seq2[Entry, error]) (Report, error) {
	w := newWalker()
	if err := w.walk(entries); err != nil {
		return w.report(nil), fmt.Errorf("audit: verify: %w", err)
	}
	return w.report(nil), nil
}

// chainState is what the walker knows about one tenant's chain so far.
type chainState struct {
	next     int64  // sequence number the next row must carry
	prevHash string // hash the next row's PrevHash must equal
	lastSeq  int64  // highest sequence number read, broken or not
	brk      *Break // first break, nil while intact
}

// walker verifies chains one entry at a time.
type walker struct {
	chains  map[string]*chainState
	entries int
	observe func(Entry) // called for every entry read; may be nil
}

func newWalker() *walker {
	return &walker{chains: make(map[string]*chainState)}
}

// walk feeds every entry to add and stops at the first error the iterator yields.
func (w *walker) walk(entries iter.Seq2[Entry, error]) error {
	if entries == nil {
		return nil
	}
	for e, err := range entries {
		if err != nil {
			return fmt.Errorf("read entry %d: %w", w.entries+1, err)
		}
		w.add(e)
	}
	return nil
}

func (w *walker) add(e Entry) {
	w.entries++
	c := w.chains[e.Tenant]
	if c == nil {
		c = &chainState{next: 1, prevHash: GenesisHash(e.Tenant)}
		w.chains[e.Tenant] = c
	}
	c.lastSeq = max(c.lastSeq, e.Seq)
	if w.observe != nil {
		w.observe(e)
	}
	if c.brk != nil {
		return
	}
	if reason := c.check(e); reason != "" {
		c.brk = &Break{Tenant: e.Tenant, Seq: e.Seq, Reason: reason}
		return
	}
	c.next = e.Seq + 1
	c.prevHash = e.Hash
}

// check returns why e cannot follow the verified part of the chain, or "".
func (c *chainState) check(e Entry) string {
	switch {
	case e.Seq < c.next:
		return fmt.Sprintf("seq %d repeated or out of order: expected seq %d", e.Seq, c.next)
	case e.Seq > c.next:
		return fmt.Sprintf("sequence gap: expected seq %d, found %d: rows deleted or out of order", c.next, e.Seq)
	case e.ComputeHash() != e.Hash:
		return "hash mismatch: row changed after it was written"
	case e.PrevHash != c.prevHash && e.Seq == 1:
		return "prev-hash mismatch: first row does not start from the tenant's genesis hash"
	case e.PrevHash != c.prevHash:
		return fmt.Sprintf("prev-hash mismatch: row does not link to seq %d: rows replaced or re-chained", e.Seq-1)
	}
	return ""
}

// report collects the first break of every tenant, merged with extra breaks
// (from checkpoints): per tenant the break with the lowest Seq wins, and a
// chain break wins a tie.
func (w *walker) report(extra []Break) Report {
	first := make(map[string]Break)
	for t, c := range w.chains {
		if c.brk != nil {
			first[t] = *c.brk
		}
	}
	for _, b := range extra {
		if cur, ok := first[b.Tenant]; !ok || b.Seq < cur.Seq {
			first[b.Tenant] = b
		}
	}
	breaks := slices.SortedFunc(maps.Values(first), func(a, b Break) int {
		return cmp.Compare(a.Tenant, b.Tenant)
	})
	return Report{Tenants: len(w.chains), Entries: w.entries, Breaks: breaks}
}
