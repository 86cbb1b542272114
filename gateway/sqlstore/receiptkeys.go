package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// InsertReceiptKey implements gateway.Tx: it stores (deliveryID, key) and
// reports false when the pair is already there and has not expired (an
// expired pair is taken over).
func (t *tx) InsertReceiptKey(ctx context.Context, deliveryID, key string, at, expires time.Time) (bool, error) {
	n, err := t.exec(ctx, `INSERT INTO receipt_keys (delivery_id, key, received_at, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (delivery_id, key) DO UPDATE SET received_at = excluded.received_at, expires_at = excluded.expires_at
		WHERE receipt_keys.expires_at <= excluded.received_at`, deliveryID, key, at, expires)
	if err != nil {
		return false, fmt.Errorf("receipt key for delivery %s: %w", deliveryID, err)
	}
	return n == 1, nil
}
