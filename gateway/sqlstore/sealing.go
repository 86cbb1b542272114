package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// errNoSealer is returned when PHI is written through a store that has no
// Sealer: the store never writes PHI in clear.
var errNoSealer = errors.New("sqlstore: no sealer configured: PHI is never stored in clear")

// UseSealer sets the keys the store seals PHI with (gateway.NewService
// calls it for the store it is given).
func (s *Store) UseSealer(k *gateway.Sealer) {
	s.mu.Lock()
	s.keys = k
	s.mu.Unlock()
}

// Sealer returns the store's keys, nil when none are set.
func (s *Store) Sealer() *gateway.Sealer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys
}

// sealJSON marshals v and seals it for the row ad.
func (t *tx) sealJSON(ad []byte, v any) ([]byte, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return t.seal(ad, doc)
}

func (t *tx) seal(ad, plaintext []byte) ([]byte, error) {
	if t.keys == nil {
		return nil, errNoSealer
	}
	return t.keys.SealRow(ad, plaintext)
}

// open decrypts a sealed column, loading its data key from data_keys in
// this transaction when it is not cached. A value that is not sealed
// (a row written before sealing was introduced) is returned as it is.
func (t *tx) open(ctx context.Context, ad, sealed []byte) ([]byte, error) {
	if len(sealed) > 0 && (sealed[0] == '{' || sealed[0] == '[') {
		return sealed, nil // plaintext JSON from before migration 004
	}
	if t.keys == nil {
		return nil, errNoSealer
	}
	if err := t.loadDataKey(ctx, sealed); err != nil {
		return nil, err
	}
	return t.keys.OpenRow(ad, sealed)
}

// loadDataKey makes sure the data key sealed names is cached.
func (t *tx) loadDataKey(ctx context.Context, sealed []byte) error {
	return t.LoadDataKey(ctx, t.keys, sealed)
}

// LoadDataKey makes sure k holds the data key sealed was sealed under,
// reading it from data_keys in this transaction: the service opens record
// content with its own Sealer, which may not be the store's.
func (t *tx) LoadDataKey(ctx context.Context, k *gateway.Sealer, sealed []byte) error {
	id, ok := gateway.DataKeyOf(sealed)
	if !ok || k.HasDataKey(id) {
		return nil
	}
	dk := gateway.DataKey{ID: id}
	err := t.queryRow(ctx, `SELECT kek_id, wrapped FROM data_keys WHERE id=$1`, id).Scan(&dk.KEKID, &dk.Wrapped)
	if errors.Is(err, gateway.ErrNotFound) {
		return nil // not a data key of ours: content from before data keys
	}
	if err != nil {
		return fmt.Errorf("data key %s: %w", id, err)
	}
	return k.LoadDataKey(dk)
}

// openJSON opens a sealed column and decodes it into v.
func (t *tx) openJSON(ctx context.Context, what string, ad, sealed []byte, v any) error {
	doc, err := t.open(ctx, ad, sealed)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// KeepDataKey asks the transaction to store k's data key with the rows it
// writes: the service seals record content with its own Sealer, which may
// not be the store's.
func (t *tx) KeepDataKey(k *gateway.Sealer) {
	if k != nil && k != t.keys && !slices.Contains(t.extraKeys, k) {
		t.extraKeys = append(t.extraKeys, k)
	}
}

// storePendingDataKeys writes the data keys that may not be in the
// database yet, in the same transaction as the rows sealed with them; it
// returns what to mark stored after commit.
func (t *tx) storePendingDataKeys(ctx context.Context) ([]storedKey, error) {
	var out []storedKey
	for _, k := range append([]*gateway.Sealer{t.keys}, t.extraKeys...) {
		if k == nil {
			continue
		}
		dk, ok := k.PendingDataKey()
		if !ok {
			continue
		}
		if _, err := t.exec(ctx, `INSERT INTO data_keys (id, kek_id, wrapped, created_at) VALUES ($1,$2,$3,$4)
			ON CONFLICT (id) DO NOTHING`, dk.ID, dk.KEKID, dk.Wrapped, time.Now()); err != nil {
			return nil, fmt.Errorf("store data key: %w", err)
		}
		out = append(out, storedKey{k, dk.ID})
	}
	return out, nil
}

// storedKey is a data key written by a transaction, to mark stored in its
// Sealer once the transaction commits.
type storedKey struct {
	k  *gateway.Sealer
	id string
}

// blind is the blind index of a value, "" for an empty value.
func (t *tx) blind(kind string, parts ...string) (any, error) {
	if parts[len(parts)-1] == "" {
		return nil, nil
	}
	if t.keys == nil {
		return nil, errNoSealer
	}
	return t.keys.BlindIndex(kind, parts...), nil
}

// Blind-index kinds.
const (
	idxPatientValue      = "patient-id"         // the patient identifier's value, any system
	idxPatientIdentifier = "patient-identifier" // system and value
	idxBirthDate         = "birth-date"         // YYYY-MM-DD
)
