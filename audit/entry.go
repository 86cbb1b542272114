package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Tags that open each canonical encoding, so an entry, a genesis value and a
// checkpoint can never be mistaken for one another.
const (
	entryTag      = "referralgw/audit/entry/v1"
	genesisTag    = "referralgw/audit/genesis/v1"
	checkpointTag = "referralgw/audit/checkpoint/v1"
)

// timeLayout renders times in hashes and exports: UTC, exactly six fractional digits.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// Entry is one row of one tenant's chain.
type Entry struct {
	Tenant     string
	Seq        int64     // 1-based, gap-free per tenant
	Time       time.Time // always UTC, truncated to the microsecond (PostgreSQL precision) by NewEntry
	Actor      string
	ReferralID string
	Action     string
	Outcome    string
	Detail     map[string]string
	PrevHash   string // lowercase hex SHA-256; GenesisHash(tenant) for Seq 1
	Hash       string // lowercase hex SHA-256 of the canonical encoding (which includes PrevHash)
}

// GenesisHash is the PrevHash of a tenant's first entry; it binds the chain to the tenant.
func GenesisHash(tenant string) string {
	h := sha256.New()
	writeField(h, genesisTag)
	writeField(h, tenant)
	return hex.EncodeToString(h.Sum(nil))
}

// NewEntry builds the next entry of a chain whose head is (prevSeq, prevHash);
// prevSeq 0 means empty chain (use GenesisHash). It copies ev.Detail, so later
// changes to the event's map do not alter the entry.
func NewEntry(tenant string, prevSeq int64, prevHash string, ev Event) Entry {
	if prevSeq == 0 {
		prevHash = GenesisHash(tenant)
	}
	var detail map[string]string
	if len(ev.Detail) > 0 {
		detail = maps.Clone(ev.Detail)
	}
	e := Entry{
		Tenant:     tenant,
		Seq:        prevSeq + 1,
		Time:       ev.Time.UTC().Truncate(time.Microsecond),
		Actor:      ev.Actor,
		ReferralID: ev.ReferralID,
		Action:     ev.Action,
		Outcome:    ev.Outcome,
		Detail:     detail,
		PrevHash:   prevHash,
	}
	e.Hash = e.ComputeHash()
	return e
}

// ComputeHash recomputes the hash from the fields (all but Hash itself) using
// the canonical encoding described in the package documentation.
func (e Entry) ComputeHash() string {
	h := sha256.New()
	e.writeCanonical(h)
	return hex.EncodeToString(h.Sum(nil))
}

// AppendCanonical appends the canonical encoding of e (the bytes that
// ComputeHash hashes) to b and returns the extended slice.
func (e Entry) AppendCanonical(b []byte) []byte {
	w := appendWriter{b: b}
	e.writeCanonical(&w)
	return w.b
}

func (e Entry) writeCanonical(w io.Writer) {
	writeField(w, entryTag)
	writeField(w, e.Tenant)
	writeField(w, strconv.FormatInt(e.Seq, 10))
	writeField(w, formatTime(e.Time))
	writeField(w, e.Actor)
	writeField(w, e.ReferralID)
	writeField(w, e.Action)
	writeField(w, e.Outcome)
	writeField(w, strconv.Itoa(len(e.Detail)))
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		writeField(w, k)
		writeField(w, e.Detail[k])
	}
	writeField(w, e.PrevHash)
}

// formatTime renders t the way hashes and exports see it.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// writeField writes s as an 8-byte big-endian length followed by its bytes.
// Writes to a hash or an appendWriter never fail, so errors are not returned.
func writeField(w io.Writer, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	_, _ = w.Write(n[:])
	_, _ = io.WriteString(w, s)
}

// appendWriter collects written bytes in a slice.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

func (a *appendWriter) WriteString(s string) (int, error) {
	a.b = append(a.b, s...)
	return len(s), nil
}
