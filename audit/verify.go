package audit

import (
	"bytes"
	"cmp"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"
)

// Report is the result of verifying one or more tenants' chains.
type Report struct {
	Tenants     int     // distinct tenants that had at least one entry
	Entries     int     // entries read, including those after a break
	Checkpoints int     // witnessed checkpoints compared with the trees
	Breaks      []Break // the first break of each broken tenant, sorted by tenant; empty => intact
	// Unsequenced counts events committed but not yet given a place in a
	// chain by the sequencer, and OldestUnsequenced is when the oldest of
	// them happened (zero when none). The store fills them in; they do not
	// make a report broken.
	Unsequenced       int
	OldestUnsequenced time.Time
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

// VerifyTrail is Verify plus the witnessed checkpoints: it rebuilds each
// tenant's Merkle tree from the rows read and requires every checkpoint's
// root at its size. heads must have been opened (signature checked) with
// OpenTreeHead. Besides what Verify finds, it reports
//   - a truncated tail: a checkpoint larger than the chain (the seq after
//     the chain's end);
//   - a trail rewritten and re-chained: a root that differs from the
//     witnessed one (the first seq after the largest checkpoint that still
//     matches);
//   - a deleted practice: checkpoints of a tenant with no rows (seq 1).
//
// A tenant still gets one Break, the one with the lowest Seq.
func VerifyTrail(entries iter.Seq2[Entry, error], heads []TreeHead) (Report, error) {
	w := newWalker()
	byTenant := map[string][]TreeHead{}
	for _, h := range heads {
		byTenant[h.Tenant] = append(byTenant[h.Tenant], h)
	}
	for _, hs := range byTenant {
		slices.SortStableFunc(hs, func(a, b TreeHead) int { return cmp.Compare(a.Size, b.Size) })
	}
	w.heads = byTenant
	if err := w.walk(entries); err != nil {
		return w.report(nil), fmt.Errorf("audit: verify trail: %w", err)
	}
	var extra []Break
	for _, tenant := range slices.Sorted(maps.Keys(byTenant)) {
		c := w.chains[tenant]
		if c == nil {
			extra = append(extra, Break{Tenant: tenant, Seq: 1, Reason: fmt.Sprintf(
				"practice deleted: checkpoints up to size %d are witnessed, the database holds no entries", byTenant[tenant][len(byTenant[tenant])-1].Size)})
			continue
		}
		if c.mismatch != nil {
			// A chain break inside the mismatched tree pinpoints the row;
			// the tree only bounds it.
			if c.brk == nil || uint64(c.brk.Seq) > c.mismatchSize {
				extra = append(extra, *c.mismatch)
			}
			continue
		}
		if rest := byTenant[tenant][c.headsSeen:]; len(rest) > 0 {
			extra = append(extra, Break{Tenant: tenant, Seq: int64(c.tree.Size()) + 1, Reason: fmt.Sprintf(
				"truncated: a checkpoint of size %d is witnessed, the chain ends at seq %d", rest[len(rest)-1].Size, c.tree.Size())})
		}
	}
	rep := w.report(extra)
	rep.Checkpoints = len(heads)
	return rep, nil
}

// chainState is what the walker knows about one tenant's chain so far.
type chainState struct {
	next     int64  // sequence number the next row must carry
	prevHash string // hash the next row's PrevHash must equal
	lastSeq  int64  // highest sequence number read, broken or not
	brk      *Break // first break, nil while intact
	// With checkpoints: the tree of the rows read, how many of the
	// tenant's heads it has reached, the largest size whose root matched,
	// and the first root that did not.
	tree         *Tree
	headsSeen    int
	matched      uint64
	mismatch     *Break
	mismatchSize uint64 // size of the checkpoint that did not match
}

// walker verifies chains one entry at a time.
type walker struct {
	chains  map[string]*chainState
	heads   map[string][]TreeHead // sorted by size; nil for Verify
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
	if hs := w.heads[e.Tenant]; len(hs) > 0 {
		c.grow(e, hs)
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

// grow appends e's leaf to the tenant's tree and compares the root with
// every checkpoint of the size the tree has reached.
func (c *chainState) grow(e Entry, hs []TreeHead) {
	if c.tree == nil {
		c.tree = NewTree()
	}
	leaf, err := LeafHash(e)
	if err != nil {
		leaf = hasher.HashLeaf([]byte(e.Hash)) // a mangled hash still takes its place; the root will not match
	}
	_ = c.tree.Append(leaf, nil) // appending to a range from 0 cannot fail
	size := c.tree.Size()
	for c.headsSeen < len(hs) && hs[c.headsSeen].Size <= size {
		h := hs[c.headsSeen]
		c.headsSeen++
		if h.Size < size || c.mismatch != nil {
			continue // a checkpoint of an empty tree, or one past the first mismatch
		}
		if !bytes.Equal(c.tree.Root(), h.Root) {
			c.mismatch = &Break{Tenant: e.Tenant, Seq: int64(c.matched) + 1, Reason: fmt.Sprintf(
				"rewritten: the tree of the first %d entries differs from the witnessed checkpoint; it last matched at size %d", h.Size, c.matched)}
			c.mismatchSize = h.Size
			continue
		}
		c.matched = h.Size
	}
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
