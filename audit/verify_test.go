package audit

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// wantBreak is an expected Break; reason is a substring of Break.Reason.
type wantBreak struct {
	tenant string
	seq    int64
	reason string
}

func checkBreaks(t *testing.T, got []Break, want []wantBreak) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("breaks = %+v, want %+v", got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Tenant != w.tenant || g.Seq != w.seq || !strings.Contains(g.Reason, w.reason) {
			t.Errorf("break %d = %+v, want tenant %q seq %d reason containing %q", i, g, w.tenant, w.seq, w.reason)
		}
	}
}

// TestVerifyPinpointsTampering tampers with a five-entry chain of one tenant.
func TestVerifyPinpointsTampering(t *testing.T) {
	const a = "practice-a"
	tests := []struct {
		name   string
		tamper func([]Entry) []Entry // gets a deep copy of the chain (index i holds seq i+1)
		want   []wantBreak
	}{
		{"intact", func(c []Entry) []Entry { return c }, nil},
		{"actor of seq 3 changed", func(c []Entry) []Entry { c[2].Actor = "user:mallory"; return c },
			[]wantBreak{{a, 3, "hash mismatch"}}},
		{"detail value of seq 3 changed", func(c []Entry) []Entry { c[2].Detail["channel"] = "fax"; return c },
			[]wantBreak{{a, 3, "hash mismatch"}}},
		{"detail key added to seq 3", func(c []Entry) []Entry { c[2].Detail["note"] = "x"; return c },
			[]wantBreak{{a, 3, "hash mismatch"}}},
		{"detail removed from seq 3", func(c []Entry) []Entry { c[2].Detail = nil; return c },
			[]wantBreak{{a, 3, "hash mismatch"}}},
		{"time of seq 3 moved by 1µs", func(c []Entry) []Entry { c[2].Time = c[2].Time.Add(time.Microsecond); return c },
			[]wantBreak{{a, 3, "hash mismatch"}}},
		{"outcome of seq 3 changed", func(c []Entry) []Entry { c[2].Outcome = OutcomeFailure; return c },
			[]wantBreak{{a, 3, "hash mismatch"}}},
		{"referral of seq 3 changed", func(c []Entry) []Entry { c[2].ReferralID = "ref-0002"; return c },
			[]wantBreak{{a, 3, "hash mismatch"}}},
		{"stored hash of seq 3 replaced", func(c []Entry) []Entry { c[2].Hash = strings.Repeat("0", 64); return c },
			[]wantBreak{{a, 3, "hash mismatch"}}},
		// Deleting seq 3 leaves nothing at seq 3 to blame: the first row read
		// that fails is seq 4, which arrives where seq 3 was expected.
		{"seq 3 deleted", func(c []Entry) []Entry { return slices.Delete(c, 2, 3) },
			[]wantBreak{{a, 4, "sequence gap: expected seq 3, found 4"}}},
		{"seq 1 deleted", func(c []Entry) []Entry { return c[1:] },
			[]wantBreak{{a, 2, "expected seq 1, found 2"}}},
		// An attacker who deletes seq 3 and renumbers and re-hashes the rows
		// after it still cannot make seq 3 (formerly 4) link to seq 2.
		{"seq 3 deleted, later rows renumbered and re-hashed", func(c []Entry) []Entry {
			c = slices.Delete(c, 2, 3)
			for i := 2; i < len(c); i++ {
				c[i].Seq = int64(i + 1)
				c[i].Hash = c[i].ComputeHash()
			}
			return c
		}, []wantBreak{{a, 3, "prev-hash mismatch"}}},
		{"rows 2 and 3 read in swapped order", func(c []Entry) []Entry { c[1], c[2] = c[2], c[1]; return c },
			[]wantBreak{{a, 3, "expected seq 2, found 3"}}},
		{"contents of rows 2 and 3 swapped, seq numbers kept", func(c []Entry) []Entry {
			c[1], c[2] = c[2], c[1]
			c[1].Seq, c[2].Seq = 2, 3
			return c
		}, []wantBreak{{a, 2, "hash mismatch"}}},
		{"seq 3 duplicated", func(c []Entry) []Entry { return slices.Insert(c, 3, c[2]) },
			[]wantBreak{{a, 3, "repeated or out of order"}}},
		{"last row changed", func(c []Entry) []Entry { c[4].Action = "referral.rejected"; return c },
			[]wantBreak{{a, 5, "hash mismatch"}}},
		{"first row re-hashed on a foreign genesis", func(c []Entry) []Entry {
			c[0].PrevHash = GenesisHash("practice-b")
			c[0].Hash = c[0].ComputeHash()
			return c
		}, []wantBreak{{a, 1, "genesis"}}},
		{"two breaks, only the first reported", func(c []Entry) []Entry {
			c[1].Actor, c[3].Actor = "user:mallory", "user:mallory"
			return c
		}, []wantBreak{{a, 2, "hash mismatch"}}},
	}
	chain := buildChain(t, a, 5)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := tt.tamper(cloneChain(chain))
			rep, err := Verify(rows(entries))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if rep.Entries != len(entries) || rep.Tenants != 1 {
				t.Errorf("report counts = (%d entries, %d tenants), want (%d, 1)", rep.Entries, rep.Tenants, len(entries))
			}
			if rep.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with breaks %+v", rep.OK(), rep.Breaks)
			}
			checkBreaks(t, rep.Breaks, tt.want)
		})
	}
}

// TestVerifyAllTenants checks that every tenant is verified and only broken ones are named.
func TestVerifyAllTenants(t *testing.T) {
	tests := []struct {
		name   string
		build  func(t *testing.T) []Entry
		sorted bool // order by (tenant, seq) like the stores; else interleave by seq
		want   []wantBreak
	}{
		{"only b broken", func(t *testing.T) []Entry {
			a, b := buildChain(t, "practice-a", 5), buildChain(t, "practice-b", 5)
			b[1].Detail["delivery"] = "dlv-999"
			return append(a, b...)
		}, true, []wantBreak{{"practice-b", 2, "hash mismatch"}}},
		{"a and c broken, b intact", func(t *testing.T) []Entry {
			a, b, c := buildChain(t, "practice-a", 4), buildChain(t, "practice-b", 4), buildChain(t, "practice-c", 4)
			a[0].Actor = "user:mallory"
			c = slices.Delete(c, 1, 2)
			return slices.Concat(a, b, c)
		}, true, []wantBreak{{"practice-a", 1, "hash mismatch"}, {"practice-c", 3, "sequence gap"}}},
		{"interleaved tenants, b broken", func(t *testing.T) []Entry {
			a, b := buildChain(t, "practice-a", 5), buildChain(t, "practice-b", 5)
			b[3].Outcome = OutcomeRefused
			return append(a, b...)
		}, false, []wantBreak{{"practice-b", 4, "hash mismatch"}}},
		{"row moved to another tenant", func(t *testing.T) []Entry {
			a, b := buildChain(t, "practice-a", 3), buildChain(t, "practice-b", 3)
			a[1].Tenant = "practice-b"
			return append(a, b...)
		}, true, []wantBreak{{"practice-a", 3, "expected seq 2, found 3"}, {"practice-b", 2, "hash mismatch"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := tt.build(t)
			slices.SortStableFunc(entries, func(x, y Entry) int {
				if tt.sorted {
					return cmp.Or(cmp.Compare(x.Tenant, y.Tenant), cmp.Compare(x.Seq, y.Seq))
				}
				return cmp.Compare(x.Seq, y.Seq)
			})
			rep, err := Verify(rows(entries))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			checkBreaks(t, rep.Breaks, tt.want)
			tenants := map[string]bool{}
			for _, e := range entries {
				tenants[e.Tenant] = true
			}
			if rep.Tenants != len(tenants) || rep.Entries != len(entries) {
				t.Errorf("report counts = (%d tenants, %d entries), want (%d, %d)", rep.Tenants, rep.Entries, len(tenants), len(entries))
			}
		})
	}
}

func TestVerifyEmpty(t *testing.T) {
	for name, entries := range map[string][]Entry{"no rows": nil, "empty slice": {}} {
		rep, err := Verify(rows(entries))
		if err != nil || !rep.OK() || rep.Tenants != 0 || rep.Entries != 0 {
			t.Errorf("%s: Verify = %+v, %v; want empty intact report", name, rep, err)
		}
	}
	if rep, err := Verify(nil); err != nil || !rep.OK() {
		t.Errorf("Verify(nil) = %+v, %v", rep, err)
	}
}

func TestVerifyIteratorError(t *testing.T) {
	errDB := errors.New("connection reset")
	chain := buildChain(t, "practice-a", 3)
	chain[1].Actor = "user:mallory"
	rep, err := Verify(rowsThenError(chain, errDB))
	if !errors.Is(err, errDB) {
		t.Fatalf("Verify error = %v, want it to wrap %v", err, errDB)
	}
	if !strings.HasPrefix(err.Error(), "audit: verify: read entry 4") {
		t.Errorf("error %q does not name the operation and position", err)
	}
	if rep.Entries != 3 {
		t.Errorf("Entries = %d, want the 3 read before the error", rep.Entries)
	}
	checkBreaks(t, rep.Breaks, []wantBreak{{"practice-a", 2, "hash mismatch"}})
}

func TestVerifyConsumesAllRows(t *testing.T) {
	// Verify never stops early, not even after a break: every row is read.
	chain := buildChain(t, "practice-a", 4)
	chain[0].Actor = "user:mallory"
	calls := 0
	seq := func(yield func(Entry, error) bool) {
		for _, e := range chain {
			calls++
			if !yield(e, nil) {
				return
			}
		}
	}
	if _, err := Verify(seq); err != nil {
		t.Fatal(err)
	}
	if calls != len(chain) {
		t.Errorf("Verify consumed %d rows, want %d", calls, len(chain))
	}
}
