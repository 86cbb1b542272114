package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// DataKeyCounts says how many data keys each KEK wraps, by KEK id.
func (s *Store) DataKeyCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.View(ctx, func(gtx gateway.Tx) error {
		rows, err := unwrap(gtx).query(ctx, `SELECT kek_id, count(*) FROM data_keys GROUP BY kek_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			out[id] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("data key counts: %w", err)
	}
	return out, nil
}

// rewrapBatch bounds how many data keys one rotation transaction holds.
const rewrapBatch = 100

// RewrapDataKeys wraps every data key that k's current KEK does not wrap
// again under it, a batch per transaction, and records the rotation in the
// gateway's audit trail. Sealed rows are not touched: readers keep working
// throughout, and a key written by a writer meanwhile is picked up by the
// next batch. It returns how many keys it rewrapped.
func (s *Store) RewrapDataKeys(ctx context.Context, k *gateway.Sealer, actor string) (int, error) {
	ctx = gateway.GatewayWide(ctx, gateway.PathKeys)
	cur := k.CurrentKEK()
	total := 0
	from := map[string]bool{}
	for {
		n := 0
		err := s.Update(ctx, func(gtx gateway.Tx) error {
			t := unwrap(gtx)
			rows, err := t.query(ctx, `SELECT id, kek_id, wrapped FROM data_keys WHERE kek_id <> $1 ORDER BY id LIMIT `+
				strconv.Itoa(rewrapBatch)+t.lock(true), cur)
			if err != nil {
				return err
			}
			var batch []gateway.DataKey
			for rows.Next() {
				var dk gateway.DataKey
				if err := rows.Scan(&dk.ID, &dk.KEKID, &dk.Wrapped); err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, dk)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return err
			}
			for _, dk := range batch {
				re, err := k.Rewrap(dk)
				if err != nil {
					return err
				}
				if _, err := t.exec(ctx, `UPDATE data_keys SET kek_id=$2, wrapped=$3 WHERE id=$1 AND kek_id=$4`,
					re.ID, re.KEKID, re.Wrapped, dk.KEKID); err != nil {
					return fmt.Errorf("rewrap data key %s: %w", dk.ID, err)
				}
				from[dk.KEKID] = true
			}
			n = len(batch)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("rotate keys: %w", err)
		}
		total += n
		if n < rewrapBatch {
			break
		}
	}
	var olds []string
	for id := range from {
		olds = append(olds, id)
	}
	sort.Strings(olds)
	err := s.Update(ctx, func(t gateway.Tx) error {
		return t.Audit(ctx, audit.Event{Time: time.Now().UTC(), Actor: actor, Tenants: []string{gateway.SystemTenant},
			Action: "keys.rotated", Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"kek": cur, "from": strings.Join(olds, ","), "rewrapped": strconv.Itoa(total)}})
	})
	if err != nil {
		return total, fmt.Errorf("rotate keys: audit: %w", err)
	}
	return total, nil
}

// AuditKEKRetired records that the KEK id was destroyed after no data key
// used it any more.
func (s *Store) AuditKEKRetired(ctx context.Context, kekID, actor string) error {
	return s.Update(ctx, func(t gateway.Tx) error {
		return t.Audit(ctx, audit.Event{Time: time.Now().UTC(), Actor: actor, Tenants: []string{gateway.SystemTenant},
			Action: "keys.retired", Outcome: audit.OutcomeSuccess, Detail: map[string]string{"kek": kekID}})
	})
}
