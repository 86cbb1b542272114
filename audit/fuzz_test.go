package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"
)

// canonFields is a canonical encoding read back field by field.
type canonFields struct {
	tenant, seq, time, actor, referral, action, outcome string
	detail                                              [][2]string
	prevHash                                            string
}

// decodeCanonical parses the encoding documented in doc.go. It exists only to
// prove the encoding is reversible, hence injective.
func decodeCanonical(b []byte) (canonFields, error) {
	next := func() (string, error) {
		if len(b) < 8 {
			return "", errors.New("short length prefix")
		}
		n := binary.BigEndian.Uint64(b)
		b = b[8:]
		if n > uint64(len(b)) {
			return "", errors.New("field longer than input")
		}
		s := string(b[:n])
		b = b[n:]
		return s, nil
	}
	var f canonFields
	tag, err := next()
	if err != nil || tag != entryTag {
		return f, errors.New("bad tag")
	}
	for _, p := range []*string{&f.tenant, &f.seq, &f.time, &f.actor, &f.referral, &f.action, &f.outcome} {
		if *p, err = next(); err != nil {
			return f, err
		}
	}
	count, err := next()
	if err != nil {
		return f, err
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return f, err
	}
	for range n {
		k, err := next()
		if err != nil {
			return f, err
		}
		v, err := next()
		if err != nil {
			return f, err
		}
		f.detail = append(f.detail, [2]string{k, v})
	}
	if f.prevHash, err = next(); err != nil {
		return f, err
	}
	if len(b) != 0 {
		return f, errors.New("trailing bytes")
	}
	return f, nil
}

// fieldsOf is what decodeCanonical must return for e.
func fieldsOf(e Entry) canonFields {
	f := canonFields{
		tenant: e.Tenant, seq: strconv.FormatInt(e.Seq, 10), time: formatTime(e.Time),
		actor: e.Actor, referral: e.ReferralID, action: e.Action, outcome: e.Outcome, prevHash: e.PrevHash,
	}
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		f.detail = append(f.detail, [2]string{k, e.Detail[k]})
	}
	return f
}

func equalFields(a, b canonFields) bool {
	return a.tenant == b.tenant && a.seq == b.seq && a.time == b.time && a.actor == b.actor &&
		a.referral == b.referral && a.action == b.action && a.outcome == b.outcome &&
		a.prevHash == b.prevHash && slices.Equal(a.detail, b.detail)
}

// FuzzCanonical checks that the canonical encoding is injective: it decodes
// back to the exact fields, and moving a byte across any field boundary
// ("ab"+"c" versus "a"+"bc") changes the encoding and the hash.
func FuzzCanonical(f *testing.F) {
	f.Add("practice-a", "user:alice", "ref-1", "referral.created", "success", "k", "v", "k2", "v2", "00", int64(1), int64(1772443800123456))
	f.Add("ab", "c", "", "", "", "", "", "", "", "", int64(0), int64(0))
	f.Add("a", "bc", "", "", "", "", "", "", "", "", int64(0), int64(0))
	f.Add("", "", "", "", "", "ab", "c", "a", "bc", "", int64(-1), int64(-62135596800000000))
	f.Add("t\x00", "\x00\x00\x00\x00\x00\x00\x00\x01x", "1", "", "", "2", "", "", "", "\xff", int64(9), int64(253402300799999999))
	f.Fuzz(func(t *testing.T, tenant, actor, ref, action, outcome, k1, v1, k2, v2, prev string, seq, micros int64) {
		e := Entry{
			Tenant: tenant, Seq: seq, Time: time.UnixMicro(micros), Actor: actor, ReferralID: ref,
			Action: action, Outcome: outcome, Detail: map[string]string{k1: v1, k2: v2}, PrevHash: prev,
		}
		canon := e.AppendCanonical(nil)
		got, err := decodeCanonical(canon)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !equalFields(got, fieldsOf(e)) {
			t.Fatalf("round trip changed fields:\n got %+v\nwant %+v", got, fieldsOf(e))
		}
		sum := sha256.Sum256(canon)
		if e.ComputeHash() != hex.EncodeToString(sum[:]) {
			t.Fatal("ComputeHash is not SHA-256 of AppendCanonical")
		}

		// Shift one byte across each boundary between adjacent string fields.
		fields := []*string{&e.Tenant, &e.Actor, &e.ReferralID, &e.Action, &e.Outcome, &e.PrevHash}
		for i := 0; i+1 < len(fields); i++ {
			left, right := fields[i], fields[i+1]
			if *left == "" {
				continue
			}
			moved := e
			moved.Detail = maps.Clone(e.Detail)
			mf := []*string{&moved.Tenant, &moved.Actor, &moved.ReferralID, &moved.Action, &moved.Outcome, &moved.PrevHash}
			*mf[i] = (*left)[:len(*left)-1]
			*mf[i+1] = (*left)[len(*left)-1:] + *right
			if string(moved.AppendCanonical(nil)) == string(canon) || moved.ComputeHash() == e.ComputeHash() {
				t.Fatalf("moving a byte from field %d to %d left the encoding unchanged", i, i+1)
			}
		}
		// And across a Detail key/value boundary.
		if k1 != "" {
			moved := e
			moved.Detail = maps.Clone(e.Detail)
			delete(moved.Detail, k1)
			moved.Detail[k1[:len(k1)-1]] = k1[len(k1)-1:] + v1
			if equalFields(fieldsOf(moved), fieldsOf(e)) {
				return // the shifted pair collided with the other pair: same entry
			}
			if moved.ComputeHash() == e.ComputeHash() {
				t.Fatal("moving a byte from a Detail key to its value left the hash unchanged")
			}
		}
	})
}

// FuzzVerifyTamper changes one field of one entry in a valid chain and
// requires Verify to name exactly that entry.
func FuzzVerifyTamper(f *testing.F) {
	f.Add(uint8(2), uint8(0), "user:mallory", int64(0))
	f.Add(uint8(4), uint8(5), "", int64(1))
	f.Add(uint8(0), uint8(6), "x", int64(-1))
	f.Add(uint8(1), uint8(7), "dlv-001", int64(0))
	f.Fuzz(func(t *testing.T, idx, field uint8, value string, shift int64) {
		chain := buildChain(t, "practice-a", 5)
		i := int(idx) % len(chain)
		orig := chain[i]
		e := &chain[i]
		e.Detail = maps.Clone(e.Detail)
		switch field % 9 {
		case 0:
			e.Actor = value
		case 1:
			e.ReferralID = value
		case 2:
			e.Action = value
		case 3:
			e.Outcome = value
		case 4:
			e.PrevHash = value
		case 5:
			e.Hash = value
		case 6:
			e.Detail[value] = "added"
		case 7:
			e.Detail["delivery"] = value
		case 8:
			e.Time = e.Time.Add(time.Duration(shift) * time.Microsecond)
		}
		changed := !equalFields(fieldsOf(*e), fieldsOf(orig)) || e.Hash != orig.Hash
		rep, err := Verify(rows(chain))
		if err != nil {
			t.Fatal(err)
		}
		if !changed {
			if !rep.OK() {
				t.Fatalf("unchanged chain reported broken: %+v", rep.Breaks)
			}
			return
		}
		if len(rep.Breaks) != 1 || rep.Breaks[0].Seq != e.Seq {
			t.Fatalf("tampered seq %d (field %d), report %+v", e.Seq, field%9, rep.Breaks)
		}
	})
}

// FuzzOpenTreeHead: a checkpoint from outside (a witness, an auditor's
// file) never panics the parser, and whatever opens is a tenant log's
// checkpoint with a 32-byte root.
func FuzzOpenTreeHead(f *testing.F) {
	skey, vkey, err := GenerateSigningKey("gw.fuzz")
	if err != nil {
		f.Fatal(err)
	}
	s, _ := NewSigner(skey)
	v, _ := NewVerifier(vkey)
	good, _ := SignTreeHead(s, "clinic-a", 3, make([]byte, 32))
	f.Add(good)
	f.Add([]byte("gw.fuzz/audit/x\n1\n\n\n— gw.fuzz AAAA\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := OpenTreeHead(msg, v)
		if err != nil {
			return
		}
		if h.Tenant == "" || len(h.Root) != 32 {
			t.Fatalf("opened %+v", h)
		}
	})
}
