package audit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("synthetic-checkpoint-key-for-tests-only")

func TestCheckpointValid(t *testing.T) {
	e := buildChain(t, "practice-a", 3)[2]
	at := time.Date(2026, 3, 3, 0, 0, 0, 999, time.FixedZone("CET", 3600))
	cp := SignCheckpoint(testKey, e, at)
	if cp.Tenant != e.Tenant || cp.Seq != e.Seq || cp.Hash != e.Hash {
		t.Fatalf("checkpoint %+v does not name entry %s/%d", cp, e.Tenant, e.Seq)
	}
	if !cp.Time.Equal(at.Truncate(time.Microsecond)) || cp.Time.Location() != time.UTC {
		t.Errorf("checkpoint Time = %v, want %v in UTC", cp.Time, at.Truncate(time.Microsecond))
	}
	if !hexHash.MatchString(cp.MAC) {
		t.Errorf("MAC %q is not lowercase hex HMAC-SHA256", cp.MAC)
	}
	tests := []struct {
		name   string
		mutate func(*Checkpoint)
		key    []byte
		valid  bool
	}{
		{"as signed", func(*Checkpoint) {}, testKey, true},
		{"wrong key", func(*Checkpoint) {}, []byte("another-key"), false},
		{"empty key", func(*Checkpoint) {}, nil, false},
		{"tenant changed", func(c *Checkpoint) { c.Tenant = "practice-b" }, testKey, false},
		{"seq changed", func(c *Checkpoint) { c.Seq = 2 }, testKey, false},
		{"hash changed", func(c *Checkpoint) { c.Hash = GenesisHash("x") }, testKey, false},
		{"time changed", func(c *Checkpoint) { c.Time = c.Time.Add(time.Microsecond) }, testKey, false},
		{"MAC not hex", func(c *Checkpoint) { c.MAC = "zz" + c.MAC[2:] }, testKey, false},
		{"MAC truncated", func(c *Checkpoint) { c.MAC = c.MAC[:32] }, testKey, false},
		{"MAC empty", func(c *Checkpoint) { c.MAC = "" }, testKey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cp
			tt.mutate(&c)
			if got := c.Valid(tt.key); got != tt.valid {
				t.Errorf("Valid = %v, want %v", got, tt.valid)
			}
		})
	}
	if empty := SignCheckpoint(nil, e, at); empty.Valid(nil) {
		t.Error("a checkpoint signed with an empty key validated")
	}
}

// TestVerifyWithCheckpoints covers what a chain alone cannot see.
func TestVerifyWithCheckpoints(t *testing.T) {
	const a, b = "practice-a", "practice-b"
	at := baseTime.Add(time.Hour)
	tests := []struct {
		name    string
		entries func(a, b []Entry) []Entry // gets deep copies of 5-entry chains
		cps     func(a, b []Entry) []Checkpoint
		chainOK bool // what plain Verify says
		want    []wantBreak
	}{
		{"intact", func(x, y []Entry) []Entry { return append(x, y...) },
			func(x, y []Entry) []Checkpoint {
				return []Checkpoint{SignCheckpoint(testKey, x[4], at), SignCheckpoint(testKey, y[2], at)}
			}, true, nil},
		{"grown after checkpoint", func(x, y []Entry) []Entry {
			next := NewEntry(a, x[4].Seq, x[4].Hash, testEvent(9))
			return append(append(x, next), y...)
		}, func(x, y []Entry) []Checkpoint { return []Checkpoint{SignCheckpoint(testKey, x[4], at)} }, true, nil},
		{"tail truncated after checkpoint", func(x, y []Entry) []Entry { return append(x[:3], y...) },
			func(x, y []Entry) []Checkpoint { return []Checkpoint{SignCheckpoint(testKey, x[4], at)} },
			true, []wantBreak{{a, 5, "truncated or rewritten after checkpoint: chain ends at seq 3"}}},
		{"last row changed and re-hashed", func(x, y []Entry) []Entry {
			x[4].Outcome = OutcomeRefused
			x[4].Hash = x[4].ComputeHash()
			return append(x, y...)
		}, func(x, y []Entry) []Checkpoint { return []Checkpoint{SignCheckpoint(testKey, x[4], at)} },
			true, []wantBreak{{a, 5, "truncated or rewritten after checkpoint"}}},
		{"chain rewritten from seq 2", func(x, y []Entry) []Entry {
			x[1].Actor = "user:mallory"
			return append(rechain(x), y...)
		}, func(x, y []Entry) []Checkpoint {
			return []Checkpoint{SignCheckpoint(testKey, x[0], at), SignCheckpoint(testKey, x[3], at)}
		}, true, []wantBreak{{a, 4, "truncated or rewritten after checkpoint"}}},
		{"tenant deleted entirely", func(x, y []Entry) []Entry { return x },
			func(x, y []Entry) []Checkpoint { return []Checkpoint{SignCheckpoint(testKey, y[1], at)} },
			true, []wantBreak{{b, 2, "tenant has no entries"}}},
		{"forged checkpoint", func(x, y []Entry) []Entry { return append(x, y...) },
			func(x, y []Entry) []Checkpoint { return []Checkpoint{SignCheckpoint([]byte("attacker"), y[4], at)} },
			true, []wantBreak{{b, 5, "checkpoint MAC invalid"}}},
		{"chain break before checkpoint wins", func(x, y []Entry) []Entry {
			x[1].Actor = "user:mallory"
			return append(x[:4], y...)
		}, func(x, y []Entry) []Checkpoint { return []Checkpoint{SignCheckpoint(testKey, x[4], at)} },
			false, []wantBreak{{a, 2, "hash mismatch"}}},
		{"checkpoint break before chain break wins", func(x, y []Entry) []Entry {
			x[1].Detail["channel"] = "fax"
			x[1].Hash = x[1].ComputeHash() // re-hashed: chain breaks at 3 (prev link), checkpoint at 2
			return append(x, y...)
		}, func(x, y []Entry) []Checkpoint { return []Checkpoint{SignCheckpoint(testKey, x[1], at)} },
			false, []wantBreak{{a, 2, "truncated or rewritten after checkpoint"}}},
	}
	chainA, chainB := buildChain(t, a, 5), buildChain(t, b, 5)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Checkpoints are signed over the untouched chains, as they were before tampering.
			cps := tt.cps(cloneChain(chainA), cloneChain(chainB))
			entries := tt.entries(cloneChain(chainA), cloneChain(chainB))
			plain, err := Verify(rows(entries))
			if err != nil {
				t.Fatal(err)
			}
			if plain.OK() != tt.chainOK {
				t.Errorf("plain Verify OK = %v (breaks %+v), want %v", plain.OK(), plain.Breaks, tt.chainOK)
			}
			rep, err := VerifyWithCheckpoints(rows(entries), cps, testKey)
			if err != nil {
				t.Fatalf("VerifyWithCheckpoints: %v", err)
			}
			checkBreaks(t, rep.Breaks, tt.want)
			if rep.Entries != len(entries) {
				t.Errorf("Entries = %d, want %d", rep.Entries, len(entries))
			}
		})
	}
}

func TestVerifyWithCheckpointsErrors(t *testing.T) {
	chain := buildChain(t, "practice-a", 3)
	cps := []Checkpoint{SignCheckpoint(testKey, chain[2], baseTime)}
	if _, err := VerifyWithCheckpoints(rows(chain), cps, nil); err == nil {
		t.Error("empty key accepted")
	}
	errDB := errors.New("canceling statement due to user request")
	rep, err := VerifyWithCheckpoints(rowsThenError(chain[:1], errDB), cps, testKey)
	if !errors.Is(err, errDB) || !strings.HasPrefix(err.Error(), "audit: verify with checkpoints:") {
		t.Fatalf("error = %v, want wrapped %v with the operation", err, errDB)
	}
	if !rep.OK() {
		t.Errorf("checkpoints judged on a partial read: %+v", rep.Breaks)
	}
}
