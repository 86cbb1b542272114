package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// publishLocked signs the checkpoint of every tree that grew, stores it in
// audit_signed_heads and hands it to every witness with a consistency
// proof from the size that witness holds. A tenant stays due until every
// witness has taken its checkpoint.
func (q *sequencer) publishLocked(ctx context.Context) (int, error) {
	ctx = gateway.GatewayWide(ctx, PathAuditSequencer)
	if q.cfg.Signer == nil || q.unlock == nil {
		return 0, nil
	}
	signed := 0
	var errs []error
	for _, tenant := range slices.Sorted(maps.Keys(q.dirty)) {
		lg := q.logs[tenant]
		if lg == nil {
			delete(q.dirty, tenant)
			continue
		}
		size, root := lg.tree.Size(), lg.tree.Root()
		msg, err := audit.SignTreeHead(q.cfg.Signer, tenant, size, root)
		if err != nil {
			return signed, err
		}
		if err := q.s.Update(ctx, func(t0 gateway.Tx) error {
			_, err := unwrap(t0).exec(ctx, `INSERT INTO audit_signed_heads (tenant, size, at, note) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, tenant, int64(size), time.Now().UTC(), string(msg))
			return err
		}); err != nil {
			return signed, fmt.Errorf("audit: store checkpoint of %s: %w", tenant, err)
		}
		signed++
		ok := true
		for i, w := range q.cfg.Witnesses {
			if err := q.witness(ctx, i, w, tenant, size, msg); err != nil {
				ok = false
				q.log().Error("audit witness refused or unreachable", "witness", w.String(), "tenant", tenant, "size", size, "err", err)
				errs = append(errs, fmt.Errorf("witness %s, %s at %d: %w", w, tenant, size, err))
			}
		}
		if ok {
			delete(q.dirty, tenant)
		}
	}
	return signed, errors.Join(errs...)
}

// witness hands one checkpoint to one witness, learning the size it holds
// when we did not know it.
func (q *sequencer) witness(ctx context.Context, i int, w audit.Witness, tenant string, size uint64, msg []byte) error {
	k := witnessKey{i, tenant}
	old, known := q.witnessed[k]
	for attempt := 0; attempt < 2; attempt++ {
		if known && old == size {
			return nil
		}
		var proof [][]byte
		if old > 0 {
			if old > size {
				return fmt.Errorf("witness holds size %d, the tree has %d: %w", old, size, audit.ErrInconsistent)
			}
			var err error
			if proof, err = q.s.consistency(ctx, tenant, old, size); err != nil {
				return err
			}
		}
		_, err := w.AddCheckpoint(ctx, old, proof, msg)
		var mismatch *audit.SizeMismatchError
		if errors.As(err, &mismatch) {
			old, known = mismatch.Size, false
			continue
		}
		if err != nil {
			return err
		}
		q.witnessed[k] = size
		return nil
	}
	return fmt.Errorf("witness keeps changing its size for %s", tenant)
}

// consistency proves that the tenant's tree of size1 is a prefix of its
// tree of size2, from the stored nodes.
func (s *Store) consistency(ctx context.Context, tenant string, size1, size2 uint64) ([][]byte, error) {
	var p [][]byte
	err := s.View(ctx, func(t0 gateway.Tx) error {
		t := unwrap(t0)
		var err error
		p, err = audit.ConsistencyProof(size1, size2, func(ids []audit.NodeID) ([][]byte, error) { return nodeHashes(ctx, t, tenant, ids) })
		return err
	})
	return p, err
}
