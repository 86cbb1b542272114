package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
	Seq        int64             // 1-based, gap-free per tenant
	Time       time.Time         // always UTC, truncated to the microsecond (PostgreSQL precision) by NewEntry
	Actor      string            // as in Event.Actor
	ReferralID string            // empty when the event concerns no referral
	Action     string            // as in Event.Action
	Outcome    string            // OutcomeSuccess | OutcomeFailure | OutcomeRefused
	Detail     map[string]string // nil and empty hash alike
	PrevHash   string            // lowercase hex SHA-256; GenesisHash(tenant) for Seq 1
	Hash       string            // lowercase hex SHA-256 of the canonical encoding (which includes PrevHash)
}

// GenesisHash is the PrevHash of a tenant's first entry; it binds the chain to the tenant.
func GenesisHash(tenant string) string {
	var buf [128]byte
	b := appendField(buf[:0], genesisTag)
	b = appendField(b, tenant)
	return hashHex(b)
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
	var buf [512]byte
	return hashHex(e.AppendCanonical(buf[:0]))
}

// AppendCanonical appends the canonical encoding of e (the bytes that
// ComputeHash hashes) to b and returns the extended slice.
func (e Entry) AppendCanonical(b []byte) []byte {
	b = appendField(b, entryTag)
	b = appendField(b, e.Tenant)
	b = appendField(b, strconv.FormatInt(e.Seq, 10))
	b = appendField(b, formatTime(e.Time))
	b = appendField(b, e.Actor)
	b = appendField(b, e.ReferralID)
	b = appendField(b, e.Action)
	b = appendField(b, e.Outcome)
	b = appendField(b, strconv.Itoa(len(e.Detail)))
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		b = appendField(b, k)
		b = appendField(b, e.Detail[k])
	}
	return appendField(b, e.PrevHash)
}

// formatTime renders t the way hashes and exports see it.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// appendField appends s as an 8-byte big-endian length followed by its bytes.
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// hashHex is the lowercase hex SHA-256 of b.
func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
