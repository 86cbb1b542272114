package gateway_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// testKey is a fixed 32-byte key; seed varies it so two keys differ.
func testKey(seed byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func newTestSealer(t *testing.T, seed byte) *gateway.Sealer {
	t.Helper()
	s, err := gateway.NewSealer(testKey(seed))
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := newTestSealer(t, 1)
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"short note", []byte("Synthetic consult note for a fake patient.")},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe, 0}},
		{"64 KiB", bytes.Repeat([]byte("record "), 64*1024/7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := s.Seal("ref-1", "rec-1", tt.plaintext)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(tt.plaintext) > 8 && bytes.Contains(sealed, tt.plaintext[:8]) {
				t.Errorf("sealed content contains the plaintext")
			}
			got, err := s.Open("ref-1", "rec-1", sealed)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open returned %d bytes, want the %d sealed", len(got), len(tt.plaintext))
			}
			// A second sealer with the same KEK opens it once it has
			// loaded the wrapped data key (as the store does from
			// data_keys), and not before.
			dk, ok := s.PendingDataKey()
			if !ok {
				t.Fatal("no data key to store after sealing")
			}
			fresh := newTestSealer(t, 1)
			if _, err := fresh.Open("ref-1", "rec-1", sealed); err == nil {
				t.Errorf("a fresh sealer opened content without its data key")
			}
			if err := fresh.LoadDataKey(dk); err != nil {
				t.Fatalf("LoadDataKey: %v", err)
			}
			again, err := fresh.Open("ref-1", "rec-1", sealed)
			if err != nil || !bytes.Equal(again, tt.plaintext) {
				t.Errorf("Open with a fresh sealer of the same key: %v", err)
			}
		})
	}
}

func TestSealerFreshNonce(t *testing.T) {
	s := newTestSealer(t, 1)
	a, err := s.Seal("ref-1", "rec-1", []byte("same text"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal("ref-1", "rec-1", []byte("same text"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Errorf("sealing the same plaintext twice gave identical output: the nonce is not fresh")
	}
}

func TestSealerRefusesTampering(t *testing.T) {
	s := newTestSealer(t, 1)
	plaintext := []byte("Synthetic referral letter.")
	sealed, err := s.Seal("ref-1", "rec-1", plaintext)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name                 string
		sealer               *gateway.Sealer
		referralID, recordID string
		sealed               []byte
	}{
		{"nonce byte flipped", s, "ref-1", "rec-1", flip(0)},
		{"ciphertext byte flipped", s, "ref-1", "rec-1", flip(12)},
		{"tag byte flipped", s, "ref-1", "rec-1", flip(len(sealed) - 1)},
		{"truncated", s, "ref-1", "rec-1", sealed[:len(sealed)-1]},
		{"extended", s, "ref-1", "rec-1", append(bytes.Clone(sealed), 0)},
		{"shorter than a nonce", s, "ref-1", "rec-1", sealed[:5]},
		{"empty", s, "ref-1", "rec-1", nil},
		{"moved to another record", s, "ref-1", "rec-2", sealed},
		{"moved to another referral", s, "ref-2", "rec-1", sealed},
		{"ids swapped", s, "rec-1", "ref-1", sealed},
		{"ids re-split", s, "ref-1rec", "-1", sealed},
		{"another key", newTestSealer(t, 2), "ref-1", "rec-1", sealed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.referralID, tt.recordID, tt.sealed)
			if err == nil {
				t.Fatalf("Open accepted tampered content")
			}
			if got != nil {
				t.Errorf("Open returned %d bytes with its error", len(got))
			}
			if !strings.HasPrefix(err.Error(), "sealer: ") {
				t.Errorf("error %q does not name the operation", err)
			}
			if strings.Contains(err.Error(), string(plaintext)) {
				t.Errorf("error %q carries the content", err)
			}
		})
	}
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		s, err := gateway.NewSealer(make([]byte, n))
		if err == nil || s != nil {
			t.Errorf("NewSealer with a %d-byte key = %v, %v; want an error", n, s, err)
			continue
		}
		if !strings.Contains(err.Error(), "32 bytes") {
			t.Errorf("NewSealer(%d bytes) error %q does not state the key size", n, err)
		}
	}
}

func TestContentHash(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if got := gateway.ContentHash([]byte(tt.in)); got != tt.want {
			t.Errorf("ContentHash(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
