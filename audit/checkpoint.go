package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"
)

// Checkpoint vouches, under a key kept outside the database, that a tenant's
// chain had the entry (Seq, Hash) at Time. It detects truncation of a chain's
// tail and wholesale rewrites, which a hash chain alone cannot.
type Checkpoint struct {
	Tenant string
	Seq    int64
	Hash   string    // the entry's Hash
	Time   time.Time // when the checkpoint was signed; UTC, truncated to the microsecond
	MAC    string    // lowercase hex HMAC-SHA256 over (Tenant, Seq, Hash, Time)
}

// SignCheckpoint signs the position of e at time at. The MAC covers the tenant,
// seq, hash and time in the package's length-prefixed encoding. An empty key
// yields a checkpoint that is never Valid.
func SignCheckpoint(key []byte, e Entry, at time.Time) Checkpoint {
	c := Checkpoint{
		Tenant: e.Tenant,
		Seq:    e.Seq,
		Hash:   e.Hash,
		Time:   at.UTC().Truncate(time.Microsecond),
	}
	c.MAC = hex.EncodeToString(c.mac(key))
	return c
}

// Valid reports whether c's MAC matches its fields under key (compared in constant time).
func (c Checkpoint) Valid(key []byte) bool {
	if len(key) == 0 {
		return false
	}
	got, err := hex.DecodeString(c.MAC)
	if err != nil {
		return false
	}
	return hmac.Equal(got, c.mac(key))
}

func (c Checkpoint) mac(key []byte) []byte {
	var buf [256]byte
	b := appendField(buf[:0], checkpointTag)
	b = appendField(b, c.Tenant)
	b = appendField(b, strconv.FormatInt(c.Seq, 10))
	b = appendField(b, c.Hash)
	b = appendField(b, formatTime(c.Time))
	m := hmac.New(sha256.New, key)
	m.Write(b) // a hash.Hash never returns an error
	return m.Sum(nil)
}

// VerifyWithCheckpoints = Verify plus: each checkpoint must be valid, and the chain must still contain an entry with
// that seq and hash (else Break naming the checkpoint seq: "truncated or rewritten after checkpoint").
//
// A tenant still gets at most one Break: the one with the lowest Seq. A
// checkpoint for a tenant with no entries at all reports that tenant as
// truncated. An empty key is an error, not a report full of breaks. When
// entries yields an error the checkpoints are not judged (the chain was not
// read to its end) and the report holds the chain breaks found so far.
func VerifyWithCheckpoints(entries iter.Seq2[Entry, error], cps []Checkpoint, key []byte) (Report, error) {
	if len(key) == 0 {
		return Report{}, errors.New("audit: verify with checkpoints: empty key")
	}
	type position struct {
		tenant string
		seq    int64
		hash   string
	}
	found := make(map[position]bool, len(cps))
	for _, cp := range cps {
		found[position{cp.Tenant, cp.Seq, cp.Hash}] = false
	}
	w := newWalker()
	w.observe = func(e Entry) {
		p := position{e.Tenant, e.Seq, e.Hash}
		if _, ok := found[p]; ok {
			found[p] = true
		}
	}
	if err := w.walk(entries); err != nil {
		return w.report(nil), fmt.Errorf("audit: verify with checkpoints: %w", err)
	}
	var extra []Break
	for _, cp := range cps {
		switch {
		case !cp.Valid(key):
			extra = append(extra, Break{Tenant: cp.Tenant, Seq: cp.Seq, Reason: "checkpoint MAC invalid: checkpoint forged or altered"})
		case !found[position{cp.Tenant, cp.Seq, cp.Hash}]:
			extra = append(extra, Break{Tenant: cp.Tenant, Seq: cp.Seq, Reason: truncationReason(w.chains[cp.Tenant])})
		}
	}
	return w.report(extra), nil
}

// truncationReason explains a checkpoint whose entry is no longer in the chain.
func truncationReason(c *chainState) string {
	const reason = "truncated or rewritten after checkpoint"
	if c == nil {
		return reason + ": tenant has no entries"
	}
	return fmt.Sprintf("%s: chain ends at seq %d", reason, c.lastSeq)
}
