package gateway_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/storetest"
)

func newKeyring(t *testing.T, kek byte, retired ...byte) *gateway.Sealer {
	t.Helper()
	var old [][]byte
	for _, r := range retired {
		old = append(old, testKey(r))
	}
	s, err := gateway.NewKeyring(testKey(kek), old, testKey(99))
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return s
}

func TestKeyringRewrapKeepsSealedRowsReadable(t *testing.T) {
	old := newKeyring(t, 1)
	ad := gateway.RowAD("referral", "ref-1", "1")
	sealed, err := old.SealRow(ad, []byte(`{"patient":"Synthetic"}`))
	if err != nil {
		t.Fatal(err)
	}
	dk, ok := old.PendingDataKey()
	if !ok || dk.KEKID != gateway.KEKID(testKey(1)) {
		t.Fatalf("pending data key %+v, %v: want one wrapped by KEK 1", dk, ok)
	}
	if id, ok := gateway.DataKeyOf(sealed); !ok || id != dk.ID {
		t.Fatalf("DataKeyOf = %q, %v; want %q", id, ok, dk.ID)
	}

	// The new keyring has KEK 2 current and KEK 1 retired.
	rotated := newKeyring(t, 2, 1)
	re, err := rotated.Rewrap(dk)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if re.ID != dk.ID || re.KEKID != gateway.KEKID(testKey(2)) || bytes.Equal(re.Wrapped, dk.Wrapped) {
		t.Fatalf("rewrapped %+v: want the same id under KEK 2", re)
	}
	// A gateway holding only KEK 2 reads the row through the rewrapped key.
	only2 := newKeyring(t, 2)
	if err := only2.LoadDataKey(dk); err == nil || !strings.Contains(err.Error(), dk.KEKID) {
		t.Errorf("loading a key wrapped by an unknown KEK: %v; want an error naming the KEK", err)
	}
	if err := only2.LoadDataKey(re); err != nil {
		t.Fatalf("LoadDataKey(rewrapped): %v", err)
	}
	got, err := only2.OpenRow(ad, sealed)
	if err != nil || string(got) != `{"patient":"Synthetic"}` {
		t.Fatalf("OpenRow after rewrap = %q, %v", got, err)
	}
	if _, err := only2.OpenRow(gateway.RowAD("referral", "ref-1", "2"), sealed); err == nil {
		t.Error("a value sealed for one row version opened for another")
	}
	// A wrapped key moved to another id does not unwrap.
	moved := re
	moved.ID = "0000000000000000"
	if err := only2.LoadDataKey(moved); err == nil {
		t.Error("a wrapped data key unwrapped under another id")
	}
}

func TestKeyringReloadsKEKsItDoesNotKnow(t *testing.T) {
	writer := newKeyring(t, 3)
	if _, err := writer.SealRow([]byte("x"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	dk, _ := writer.PendingDataKey()
	reader := newKeyring(t, 1)
	calls := 0
	reader.SetKEKSource(func() ([]byte, [][]byte, error) {
		calls++
		return testKey(3), [][]byte{testKey(1)}, nil
	})
	if err := reader.LoadDataKey(dk); err != nil {
		t.Fatalf("LoadDataKey with a KEK source: %v", err)
	}
	if calls != 1 || reader.CurrentKEK() != gateway.KEKID(testKey(3)) {
		t.Errorf("reloads = %d, current = %s; want one reload making KEK 3 current", calls, reader.CurrentKEK())
	}
	failing := newKeyring(t, 1)
	failing.SetKEKSource(func() ([]byte, [][]byte, error) { return nil, nil, errors.New("key file unreadable") })
	if err := failing.LoadDataKey(dk); err == nil || !strings.Contains(err.Error(), "key file unreadable") {
		t.Errorf("LoadDataKey with a failing source: %v", err)
	}
}

func TestKeyringOpensContentSealedBeforeDataKeys(t *testing.T) {
	// Content sealed directly under the KEK (nonce || ciphertext), the
	// format record bodies had before data keys, still opens.
	s := newKeyring(t, 1)
	legacy := storetest.SealUnderKEK(t, testKey(1), "ref-1", "rec-1", []byte("old note"))
	got, err := s.Open("ref-1", "rec-1", legacy)
	if err != nil || string(got) != "old note" {
		t.Fatalf("Open(legacy) = %q, %v", got, err)
	}
	if _, err := s.Open("ref-1", "rec-2", legacy); err == nil {
		t.Error("legacy content opened for another record")
	}
}

func TestBlindIndex(t *testing.T) {
	a, b := newKeyring(t, 1), newKeyring(t, 2) // same index key, different KEKs
	if a.BlindIndex("patient-identifier", "urn:mrn", "MRN-1") != b.BlindIndex("patient-identifier", "urn:mrn", "MRN-1") {
		t.Error("the blind index depends on the KEK: rotating the KEK would break search")
	}
	distinct := []string{
		a.BlindIndex("patient-identifier", "urn:mrn", "MRN-1"),
		a.BlindIndex("patient-identifier", "urn:other", "MRN-1"),
		a.BlindIndex("patient-identifier", "", "MRN-1"),
		a.BlindIndex("patient-identifier", "urn:mrnMRN-1", ""),
		a.BlindIndex("patient-id", "MRN-1"),
		a.BlindIndex("birth-date", "MRN-1"),
	}
	seen := map[string]bool{}
	for i, x := range distinct {
		if seen[x] {
			t.Errorf("index %d collides with an earlier one", i)
		}
		seen[x] = true
		if strings.Contains(x, "MRN") || len(x) != 32 {
			t.Errorf("index %q: want 32 hex digits carrying nothing of the value", x)
		}
	}
	other, _ := gateway.NewKeyring(testKey(1), nil, testKey(98))
	if other.BlindIndex("patient-id", "MRN-1") == a.BlindIndex("patient-id", "MRN-1") {
		t.Error("two index keys give the same blind index")
	}
}

func TestNewKeyringRefusesShortKeys(t *testing.T) {
	for _, tt := range []struct {
		name         string
		kek, index   []byte
		retired      [][]byte
		wantInErrMsg string
	}{
		{"short KEK", make([]byte, 16), testKey(1), nil, "32 bytes"},
		{"short index key", testKey(1), make([]byte, 31), nil, "index key"},
		{"short retired KEK", testKey(1), testKey(2), [][]byte{make([]byte, 8)}, "32 bytes"},
	} {
		if _, err := gateway.NewKeyring(tt.kek, tt.retired, tt.index); err == nil || !strings.Contains(err.Error(), tt.wantInErrMsg) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
