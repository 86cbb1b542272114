package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/referralgw/gateway/audit"
)

// KeyedReceipt is a receipt an edge reports under its own name for the
// event (a fax id and status): the key, the receipt and the edge's audit
// event commit in one transaction.
type KeyedReceipt struct {
	DeliveryID string
	// Key names the event; it is kept per delivery, so the same key on
	// another delivery (a vendor that reuses ids) is not a replay.
	Key     string
	Receipt Receipt
	// Expires is when the key may be forgotten.
	Expires time.Time
	// Audit, when set, is appended in the same transaction as the receipt.
	Audit *audit.Event
}

// RecordReceiptOnce records k.Receipt on its delivery unless k.Key was
// recorded on that delivery before: then it changes nothing and reports
// false. The key and the receipt commit together, so a crash between
// them cannot make the vendor's retry look like a replay, and a failed
// receipt (an illegal transition) leaves no key behind.
func (s *Service) RecordReceiptOnce(ctx context.Context, k KeyedReceipt) (bool, *Delivery, error) {
	ctx, err := s.forDelivery(ctx, k.DeliveryID)
	if err != nil {
		return false, nil, fmt.Errorf("receipt for delivery %s: %w", k.DeliveryID, err)
	}
	var (
		d     *Delivery
		first bool
	)
	err = s.update(ctx, func(tx Tx) error {
		var err error
		if first, err = tx.InsertReceiptKey(ctx, k.DeliveryID, k.Key, s.clock.Now(), k.Expires); err != nil || !first {
			return err
		}
		if d, err = s.recordReceiptTx(ctx, tx, k.DeliveryID, k.Receipt, 0); err != nil {
			return err
		}
		if k.Audit != nil {
			return tx.Audit(ctx, *k.Audit)
		}
		return nil
	})
	if err != nil {
		return false, nil, fmt.Errorf("receipt %s for delivery %s: %w", k.Key, k.DeliveryID, err)
	}
	return first, d, nil
}
