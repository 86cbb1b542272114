package audit

import (
	"encoding/binary"
	"maps"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestNewEntryChains(t *testing.T) {
	ev := testEvent(0)
	first := NewEntry("practice-a", 0, "ignored for an empty chain", ev)
	if first.Seq != 1 {
		t.Errorf("first Seq = %d, want 1", first.Seq)
	}
	if first.PrevHash != GenesisHash("practice-a") {
		t.Errorf("first PrevHash = %s, want genesis %s", first.PrevHash, GenesisHash("practice-a"))
	}
	second := NewEntry("practice-a", first.Seq, first.Hash, testEvent(1))
	if second.Seq != 2 || second.PrevHash != first.Hash {
		t.Errorf("second = (seq %d, prev %s), want (2, %s)", second.Seq, second.PrevHash, first.Hash)
	}
	for _, e := range []Entry{first, second} {
		if !hexHash.MatchString(e.Hash) || !hexHash.MatchString(e.PrevHash) {
			t.Errorf("seq %d: hashes not lowercase hex SHA-256: %q %q", e.Seq, e.Hash, e.PrevHash)
		}
		if e.Hash != e.ComputeHash() {
			t.Errorf("seq %d: Hash %s != ComputeHash %s", e.Seq, e.Hash, e.ComputeHash())
		}
	}
}

func TestNewEntryNormalisesTime(t *testing.T) {
	zone := time.FixedZone("UTC-5", -5*3600)
	ev := testEvent(0)
	ev.Time = time.Date(2026, 3, 2, 4, 30, 0, 123456789, zone)
	e := NewEntry("practice-a", 0, "", ev)
	want := time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)
	if !e.Time.Equal(want) || e.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want %v in UTC", e.Time, want)
	}
	// The same instant given in UTC hashes identically.
	ev.Time = ev.Time.UTC()
	if other := NewEntry("practice-a", 0, "", ev); other.Hash != e.Hash {
		t.Errorf("same instant in another zone hashed differently: %s vs %s", other.Hash, e.Hash)
	}
}

func TestNewEntryCopiesDetail(t *testing.T) {
	ev := testEvent(0)
	e := NewEntry("practice-a", 0, "", ev)
	ev.Detail["channel"] = "fax"
	if e.Detail["channel"] != "direct" {
		t.Errorf("entry Detail changed with the event's map: %q", e.Detail["channel"])
	}
	if e.ComputeHash() != e.Hash {
		t.Error("entry no longer verifies after the event's map changed")
	}
}

func TestGenesisHashPerTenant(t *testing.T) {
	a, b := GenesisHash("practice-a"), GenesisHash("practice-b")
	if a == b {
		t.Fatal("two tenants share a genesis hash")
	}
	if a != GenesisHash("practice-a") {
		t.Error("GenesisHash is not deterministic")
	}
	if !hexHash.MatchString(a) {
		t.Errorf("GenesisHash %q is not lowercase hex SHA-256", a)
	}
}

func TestComputeHashDetailOrderAndNil(t *testing.T) {
	e := Entry{Tenant: "t", Seq: 1, Time: baseTime, Action: "auth.login", Outcome: OutcomeSuccess}
	nilHash := e.ComputeHash()
	e.Detail = map[string]string{}
	if got := e.ComputeHash(); got != nilHash {
		t.Errorf("empty Detail hashed %s, nil Detail %s", got, nilHash)
	}
	d := map[string]string{}
	for i := range 50 {
		d["k"+strconv.Itoa(i)] = strconv.Itoa(i)
	}
	e.Detail = d
	want := e.ComputeHash()
	for range 20 {
		e.Detail = maps.Clone(d) // fresh map, fresh iteration order
		if got := e.ComputeHash(); got != want {
			t.Fatalf("hash depends on map order: %s vs %s", got, want)
		}
	}
}

// TestCanonicalEncodingMatchesDoc builds the encoding by hand from the rules in
// doc.go and pins the resulting hash: stored hashes must never change meaning.
func TestCanonicalEncodingMatchesDoc(t *testing.T) {
	e := Entry{
		Tenant:     "practice-a",
		Seq:        7,
		Time:       time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC),
		Actor:      "user:alice",
		ReferralID: "ref-42",
		Action:     "delivery.sent",
		Outcome:    "success",
		Detail:     map[string]string{"delivery": "dlv-9", "channel": "direct"},
		PrevHash:   "00",
	}
	var want []byte
	for _, f := range []string{
		"referralgw/audit/entry/v1", "practice-a", "7", "2026-03-01T09:30:00.123456Z",
		"user:alice", "ref-42", "delivery.sent", "success",
		"2", "channel", "direct", "delivery", "dlv-9", "00",
	} {
		want = binary.BigEndian.AppendUint64(want, uint64(len(f)))
		want = append(want, f...)
	}
	if got := e.AppendCanonical(nil); string(got) != string(want) {
		t.Fatalf("canonical encoding differs from doc.go\n got %x\nwant %x", got, want)
	}
	// Computed independently (Python hashlib over the same field list).
	const pinned = "79e9369bba0afef40a61ff10d8ef4e0c5eb71f28aa9ec435dc3af45d81893e71"
	if got := e.ComputeHash(); got != pinned {
		t.Errorf("ComputeHash = %s, pinned %s (changing the encoding breaks every stored chain)", got, pinned)
	}
}

func TestEventValidate(t *testing.T) {
	valid := Event{Time: baseTime, Actor: "system", Tenants: []string{"a", "b"}, Action: "baa.transition", Outcome: OutcomeRefused}
	tests := []struct {
		name   string
		mutate func(*Event)
		ok     bool
	}{
		{"valid", func(*Event) {}, true},
		{"zero time", func(e *Event) { e.Time = time.Time{} }, false},
		{"no actor", func(e *Event) { e.Actor = "" }, false},
		{"no action", func(e *Event) { e.Action = "" }, false},
		{"unknown outcome", func(e *Event) { e.Outcome = "maybe" }, false},
		{"no tenants", func(e *Event) { e.Tenants = nil }, false},
		{"empty tenant", func(e *Event) { e.Tenants = []string{""} }, false},
		{"duplicate tenant", func(e *Event) { e.Tenants = []string{"a", "a"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := valid
			ev.Tenants = []string{"a", "b"}
			tt.mutate(&ev)
			err := ev.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
