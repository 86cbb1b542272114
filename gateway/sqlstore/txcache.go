package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/referralgw/gateway/gateway"
)

// txCache answers a transaction's repeated reads of a row it already read
// or wrote, so that each costs one round trip at most once: the directory
// entries a transaction looks up several times (the receiver's chain, the
// sender), the record contents it stored moments before, and the referral
// it locked together with its delivery. It lives and dies with one
// transaction, so it never shows another transaction's view: a row read
// again in the same transaction could only differ by another
// transaction's commit in between, which the first read may equally have
// missed.
type txCache struct {
	entries map[string]rawEntry  // directory entry id → its columns as read
	records map[[2]string][]byte // (referral, record) → sealed content written here
	// locked are referrals read under lock with their delivery (see
	// lockDelivery); a change to one in this transaction drops it.
	locked map[string]sealedReferral
}

// sealedReferral is a referral row not yet opened.
type sealedReferral struct {
	version int
	doc     []byte
}

// rawEntry is a directory entry's columns, not yet decoded.
type rawEntry struct {
	doc    string
	checks *string
}

func (c *txCache) entry(id string) (rawEntry, bool) {
	e, ok := c.entries[id]
	return e, ok
}

func (c *txCache) putEntry(id string, e rawEntry) {
	if c.entries == nil {
		c.entries = map[string]rawEntry{}
	}
	c.entries[id] = e
}

func (c *txCache) putRecord(referralID, recordID string, sealed []byte) {
	if c.records == nil {
		c.records = map[[2]string][]byte{}
	}
	c.records[[2]string{referralID, recordID}] = sealed
}

func (c *txCache) record(referralID, recordID string) ([]byte, bool) {
	sealed, ok := c.records[[2]string{referralID, recordID}]
	return sealed, ok
}

func (c *txCache) putLocked(id string, r sealedReferral) {
	if c.locked == nil {
		c.locked = map[string]sealedReferral{}
	}
	c.locked[id] = r
}

// lockDelivery reads and locks delivery id and its referral in one
// statement where the database locks rows (PostgreSQL), keeping the
// referral for the Referral call that follows in the core (deliver,
// record a receipt, check a deadline: each locks the delivery, then its
// referral, in that order as before). Where the join finds nothing (a
// referral the acting scope cannot see), it reads the delivery alone.
func (t *tx) lockDelivery(ctx context.Context, id string) (*gateway.Delivery, error) {
	var (
		did, rid string
		ddoc     []byte
		r        sealedReferral
	)
	err := t.queryRow(ctx, `SELECT d.id, d.doc, r.id, r.version, r.doc FROM deliveries d JOIN referrals r ON r.id = d.referral_id
		WHERE d.id=$1 `+t.d.ForUpdate, id).Scan(&did, &ddoc, &rid, &r.version, &r.doc)
	if errors.Is(err, gateway.ErrNotFound) {
		return t.scanDelivery(ctx, t.queryRow(ctx, `SELECT id, doc FROM deliveries WHERE id=$1`+t.lock(true), id))
	}
	if err != nil {
		return nil, err
	}
	var d gateway.Delivery
	if err := t.openJSON(ctx, "delivery "+did, deliveryAD(did), ddoc, &d); err != nil {
		return nil, err
	}
	t.cache.putLocked(rid, r)
	return &d, nil
}

// lockedReferral opens the referral lockDelivery kept, if it did.
func (t *tx) lockedReferral(ctx context.Context, id string) (*gateway.Referral, bool, error) {
	raw, ok := t.cache.locked[id]
	if !ok {
		return nil, false, nil
	}
	var r gateway.Referral
	if err := t.openJSON(ctx, "referral "+id, referralAD(id, raw.version), raw.doc, &r); err != nil {
		return nil, true, fmt.Errorf("referral %s: %w", id, err)
	}
	return &r, true, nil
}
