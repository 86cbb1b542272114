package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
)

// Sealer encrypts PHI at rest with envelope encryption. Each field is
// sealed with AES-256-GCM under a data key; data keys are random, kept in
// the database wrapped (AES-256-GCM) by the key-encryption key (KEK, the
// record key), and cached unwrapped in memory. The id of the row a field
// belongs to is bound as additional data, so a sealed value cannot be moved
// to another row unnoticed. Rotating the KEK rewraps the data keys and
// leaves the sealed rows untouched.
//
// The Sealer also computes blind indexes: HMAC-SHA-256 under a separate
// index key, so exact searches run without plaintext in the database.
type Sealer struct {
	index []byte // blind-index key

	mu       sync.RWMutex
	keks     map[string]cipher.AEAD // by KEK id
	current  string                 // KEK id new data keys are wrapped with
	reload   func() (current []byte, retired [][]byte, err error)
	dataKeys map[string]cipher.AEAD // unwrapped data keys by id
	active   *DataKey               // the data key new fields are sealed with
	stored   bool                   // whether active is known to be in the database
}

// DataKey is a data key as the database keeps it: wrapped by a KEK.
type DataKey struct {
	ID      string // 16 hex digits
	KEKID   string // the KEK that wraps it
	Wrapped []byte // nonce || AES-256-GCM(KEK, key), bound to ID
}

// sealedV1 starts every value sealed under a data key:
// 0x01 || data key id (8 bytes) || nonce (12) || ciphertext || tag (16).
const (
	sealedV1      = 0x01
	dataKeyIDLen  = 8
	sealedHeader  = 1 + dataKeyIDLen
	gcmNonceBytes = 12
)

// NewSealer makes a Sealer whose KEK is key (32 bytes); the blind-index key
// is derived from it with HKDF. Use NewKeyring to keep the index key
// separate (the gateway does), which rotating the KEK needs.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealer: key must be 32 bytes, got %d", len(key))
	}
	index, err := hkdf.Key(sha256.New, key, nil, "referral gateway blind index", 32)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return NewKeyring(key, nil, index)
}

// NewKeyring makes a Sealer from the current KEK, the retired KEKs that may
// still wrap data keys, and the blind-index key (all 32 bytes).
func NewKeyring(current []byte, retired [][]byte, index []byte) (*Sealer, error) {
	if len(index) != 32 {
		return nil, fmt.Errorf("sealer: index key must be 32 bytes, got %d", len(index))
	}
	s := &Sealer{index: index, dataKeys: map[string]cipher.AEAD{}}
	if err := s.setKEKs(current, retired); err != nil {
		return nil, err
	}
	return s, nil
}

// SetKEKSource lets the Sealer re-read its KEKs when it meets a data key
// wrapped by a KEK it does not know (another process rotated the KEK).
func (s *Sealer) SetKEKSource(load func() (current []byte, retired [][]byte, err error)) {
	s.mu.Lock()
	s.reload = load
	s.mu.Unlock()
}

func (s *Sealer) setKEKs(current []byte, retired [][]byte) error {
	keks := map[string]cipher.AEAD{}
	for _, k := range append([][]byte{current}, retired...) {
		if len(k) != 32 {
			return fmt.Errorf("sealer: key must be 32 bytes, got %d", len(k))
		}
		a, err := newGCM(k)
		if err != nil {
			return err
		}
		keks[KEKID(k)] = a
	}
	s.mu.Lock()
	s.keks, s.current = keks, KEKID(current)
	s.mu.Unlock()
	return nil
}

// KEKID names a KEK without revealing it: the first 8 bytes of an HMAC of
// a fixed label under the key, in hex.
func KEKID(kek []byte) string {
	m := hmac.New(sha256.New, kek)
	m.Write([]byte("referral gateway key-encryption key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// CurrentKEK is the id of the KEK that wraps new data keys.
func (s *Sealer) CurrentKEK() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.current
}

// KnownKEKs lists the ids of every KEK the Sealer holds.
func (s *Sealer) KnownKEKs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.keks))
	for id := range s.keks {
		out = append(out, id)
	}
	return out
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return a, nil
}

// PendingDataKey returns the active data key when it may not be in the
// database yet; the store writes it (idempotently) in the same
// transaction as the first rows sealed with it, then calls DataKeyStored.
func (s *Sealer) PendingDataKey() (DataKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.active == nil || s.stored {
		return DataKey{}, false
	}
	return *s.active, true
}

// DataKeyStored records that the data key id is committed to the database.
func (s *Sealer) DataKeyStored(id string) {
	s.mu.Lock()
	if s.active != nil && s.active.ID == id {
		s.stored = true
	}
	s.mu.Unlock()
}

// activeKey returns the data key to seal with, making one on first use.
func (s *Sealer) activeKey() (string, cipher.AEAD, error) {
	s.mu.RLock()
	if s.active != nil {
		id := s.active.ID
		a := s.dataKeys[id]
		s.mu.RUnlock()
		return id, a, nil
	}
	load := s.reload
	s.mu.RUnlock()
	if load != nil {
		// A new data key is wrapped by the KEK in force now, even when
		// another process rotated it since this one started.
		cur, retired, err := load()
		if err != nil {
			return "", nil, fmt.Errorf("sealer: reload KEKs: %w", err)
		}
		if err := s.setKEKs(cur, retired); err != nil {
			return "", nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		raw := make([]byte, 32+dataKeyIDLen)
		if _, err := rand.Read(raw); err != nil {
			return "", nil, fmt.Errorf("sealer: data key: %w", err)
		}
		key, id := raw[:32], hex.EncodeToString(raw[32:])
		wrapped, err := wrap(s.keks[s.current], id, key)
		if err != nil {
			return "", nil, err
		}
		a, err := newGCM(key)
		if err != nil {
			return "", nil, err
		}
		s.dataKeys[id] = a
		s.active = &DataKey{ID: id, KEKID: s.current, Wrapped: wrapped}
	}
	return s.active.ID, s.dataKeys[s.active.ID], nil
}

func wrap(kek cipher.AEAD, id string, key []byte) ([]byte, error) {
	nonce := make([]byte, kek.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealer: nonce: %w", err)
	}
	return kek.Seal(nonce, nonce, key, []byte("data-key|"+id)), nil
}

func (s *Sealer) unwrap(dk DataKey) ([]byte, error) {
	s.mu.RLock()
	kek := s.keks[dk.KEKID]
	load := s.reload
	s.mu.RUnlock()
	if kek == nil && load != nil {
		cur, retired, err := load()
		if err != nil {
			return nil, fmt.Errorf("sealer: reload KEKs: %w", err)
		}
		if err := s.setKEKs(cur, retired); err != nil {
			return nil, err
		}
		s.mu.RLock()
		kek = s.keks[dk.KEKID]
		s.mu.RUnlock()
	}
	if kek == nil {
		return nil, fmt.Errorf("sealer: data key %s is wrapped by KEK %s, which this gateway does not hold", dk.ID, dk.KEKID)
	}
	n := kek.NonceSize()
	if len(dk.Wrapped) < n {
		return nil, fmt.Errorf("sealer: data key %s: wrapped key too short", dk.ID)
	}
	key, err := kek.Open(nil, dk.Wrapped[:n], dk.Wrapped[n:], []byte("data-key|"+dk.ID))
	if err != nil {
		return nil, fmt.Errorf("sealer: unwrap data key %s: %w", dk.ID, err)
	}
	return key, nil
}

// LoadDataKey unwraps a stored data key and caches it for Open.
func (s *Sealer) LoadDataKey(dk DataKey) error {
	key, err := s.unwrap(dk)
	if err != nil {
		return err
	}
	a, err := newGCM(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.dataKeys[dk.ID] = a
	s.mu.Unlock()
	return nil
}

// HasDataKey reports whether the data key id is cached.
func (s *Sealer) HasDataKey(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.dataKeys[id] != nil
}

// Rewrap unwraps dk with whichever KEK wraps it and wraps it again with
// the current KEK; the data key itself, and so every sealed row, is
// unchanged.
func (s *Sealer) Rewrap(dk DataKey) (DataKey, error) {
	key, err := s.unwrap(dk)
	if err != nil {
		return DataKey{}, err
	}
	s.mu.RLock()
	cur, kek := s.current, s.keks[s.current]
	s.mu.RUnlock()
	wrapped, err := wrap(kek, dk.ID, key)
	if err != nil {
		return DataKey{}, err
	}
	return DataKey{ID: dk.ID, KEKID: cur, Wrapped: wrapped}, nil
}

// DataKeyOf names the data key a sealed value was sealed under; ok is
// false for values not in the data-key format (legacy content).
func DataKeyOf(sealed []byte) (id string, ok bool) {
	if len(sealed) < sealedHeader+gcmNonceBytes || sealed[0] != sealedV1 {
		return "", false
	}
	return hex.EncodeToString(sealed[1:sealedHeader]), true
}

// SealRow encrypts plaintext for the row named by ad (see RowAD).
func (s *Sealer) SealRow(ad, plaintext []byte) ([]byte, error) {
	id, a, err := s.activeKey()
	if err != nil {
		return nil, err
	}
	raw, _ := hex.DecodeString(id)
	out := make([]byte, sealedHeader+gcmNonceBytes, sealedHeader+gcmNonceBytes+len(plaintext)+a.Overhead())
	out[0] = sealedV1
	copy(out[1:], raw)
	nonce := out[sealedHeader:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealer: nonce: %w", err)
	}
	return a.Seal(out, nonce, plaintext, ad), nil
}

// OpenRow decrypts a value SealRow sealed for the same ad. Its data key
// must be cached (the store loads it with the row). Values sealed directly
// under a KEK, before data keys, still open.
func (s *Sealer) OpenRow(ad, sealed []byte) ([]byte, error) {
	if id, ok := DataKeyOf(sealed); ok {
		s.mu.RLock()
		a := s.dataKeys[id]
		s.mu.RUnlock()
		if a != nil {
			body := sealed[sealedHeader:]
			if pt, err := a.Open(nil, body[:gcmNonceBytes], body[gcmNonceBytes:], ad); err == nil {
				return pt, nil
			}
		}
	}
	if pt, ok := s.openLegacy(ad, sealed); ok {
		return pt, nil
	}
	if len(sealed) < sealedHeader+gcmNonceBytes {
		return nil, errors.New("sealer: sealed value too short")
	}
	return nil, errors.New("sealer: cannot open sealed value: wrong row, unknown data key or tampered content")
}

// openLegacy opens content sealed directly under a KEK (nonce || ciphertext),
// the format before data keys.
func (s *Sealer) openLegacy(ad, sealed []byte) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, kek := range s.keks {
		n := kek.NonceSize()
		if len(sealed) < n {
			return nil, false
		}
		if pt, err := kek.Open(nil, sealed[:n], sealed[n:], ad); err == nil {
			return pt, true
		}
	}
	return nil, false
}

// Seal encrypts a record's content for (referralID, recordID).
func (s *Sealer) Seal(referralID, recordID string, plaintext []byte) ([]byte, error) {
	return s.SealRow(binding(referralID, recordID), plaintext)
}

// Open decrypts sealed content of (referralID, recordID).
func (s *Sealer) Open(referralID, recordID string, sealed []byte) ([]byte, error) {
	pt, err := s.OpenRow(binding(referralID, recordID), sealed)
	if err != nil {
		return nil, fmt.Errorf("%w (record %s)", err, recordID)
	}
	return pt, nil
}

// RowAD is the additional data binding a sealed value to one row: the
// table and the row's key parts, each length-prefixed so no two rows share
// a binding.
func RowAD(table string, key ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(table)))
	b = append(b, table...)
	for _, k := range key {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
	}
	return b
}

// BlindIndex is the searchable stand-in for an exact value: hex of the
// first 16 bytes of HMAC-SHA-256 under the index key over the kind and the
// value's parts (length-prefixed). Equal inputs give equal indexes; nothing
// about the value can be read back without the key.
func (s *Sealer) BlindIndex(kind string, parts ...string) string {
	m := hmac.New(sha256.New, s.index)
	m.Write(RowAD(kind, parts...))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// ContentHash is the hex SHA-256 of content, as stored in Record.SHA256.
func ContentHash(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// binding is the additional data sealing content to one record: both ids,
// each length-prefixed so no two id pairs share a binding.
func binding(referralID, recordID string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(referralID)))
	b = append(b, referralID...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(recordID)))
	return append(b, recordID...)
}
