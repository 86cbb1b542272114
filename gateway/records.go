package gateway

import (
	"context"
	"fmt"
)

// RecordReferral loads the referral that holds a record, so that an edge
// serving the record by its id alone (FHIR DocumentReference and Binary)
// can check who may see it. ErrNotFound when no referral holds it.
func (s *Service) RecordReferral(ctx context.Context, recordID string) (*Referral, Record, error) {
	if ScopeFrom(ctx).Empty() {
		// Which referral holds the record is read on the named path
		// PathResolve; the referral is then read as its practice.
		var refID string
		err := s.store.View(GatewayWide(ctx, PathResolve), func(tx Tx) error {
			var err error
			refID, err = tx.RecordReferral(ctx, recordID)
			return err
		})
		if err == nil {
			ctx, err = s.forReferral(ctx, Actor{}, refID)
		}
		if err != nil {
			return nil, Record{}, fmt.Errorf("record %s: %w", recordID, err)
		}
	}
	var r *Referral
	err := s.store.View(ctx, func(tx Tx) error {
		id, err := tx.RecordReferral(ctx, recordID)
		if err != nil {
			return err
		}
		r, err = tx.Referral(ctx, id, false)
		return err
	})
	if err != nil {
		return nil, Record{}, fmt.Errorf("record %s: %w", recordID, err)
	}
	for _, rec := range r.Records {
		if rec.ID == recordID {
			return r, rec, nil
		}
	}
	return nil, Record{}, fmt.Errorf("record %s not listed by referral %s: %w", recordID, r.ID, ErrNotFound)
}

// RecordContent opens one record of r from the encrypted store and checks
// its content against the recorded hash.
func (s *Service) RecordContent(ctx context.Context, r *Referral, rec Record) (RecordContent, error) {
	ctx = actAs(ctx, r.Requester.OrgID)
	var sealed []byte
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		sealed, err = tx.RecordContent(ctx, r.ID, rec.ID)
		return err
	})
	if err != nil {
		return RecordContent{}, fmt.Errorf("record %s: %w", rec.ID, err)
	}
	pt, err := s.openContent(ctx, nil, r.ID, rec.ID, sealed)
	if err != nil {
		return RecordContent{}, fmt.Errorf("record %s: %w", rec.ID, err)
	}
	if ContentHash(pt) != rec.SHA256 {
		return RecordContent{}, fmt.Errorf("record %s: content hash mismatch", rec.ID)
	}
	return RecordContent{Record: rec, Content: pt}, nil
}

// ReferralVersion loads one past version of a referral (FHIR vread).
func (s *Service) ReferralVersion(ctx context.Context, id string, version int) (*Referral, error) {
	ctx, err := s.forReferral(ctx, Actor{}, id)
	if err != nil {
		return nil, fmt.Errorf("referral %s version %d: %w", id, version, err)
	}
	var r *Referral
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		r, err = tx.ReferralVersion(ctx, id, version)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("referral %s version %d: %w", id, version, err)
	}
	return r, nil
}

// ReferralByIdentifier finds a referral by its requester's business
// identifier, in the stored form of Referral.Identifier.
func (s *Service) ReferralByIdentifier(ctx context.Context, requesterOrg, identifier string) (*Referral, error) {
	ctx = actAs(ctx, requesterOrg)
	var r *Referral
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		r, err = tx.ReferralByIdentifier(ctx, requesterOrg, identifier)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("referral %s/%s: %w", requesterOrg, identifier, err)
	}
	return r, nil
}

// sealOrder seals the requester's order like a record and returns its
// metadata for Referral.Order and the sealed bytes, which the caller
// stores once the referral row exists.
func (s *Service) sealOrder(r *Referral, order []byte) (*Record, []byte, error) {
	rec := Record{ID: NewID(), Title: "order", ContentType: "application/fhir+json", SHA256: ContentHash(order), Size: int64(len(order))}
	sealed, err := s.sealer.Seal(r.ID, rec.ID, order)
	if err != nil {
		return nil, nil, err
	}
	return &rec, sealed, nil
}

// openOrder opens the requester's order inside a transaction; nil when
// the referral has none.
func (s *Service) openOrder(ctx context.Context, tx Tx, r *Referral) ([]byte, error) {
	if r.Order == nil {
		return nil, nil
	}
	sealed, err := tx.RecordContent(ctx, r.ID, r.Order.ID)
	if err != nil {
		return nil, fmt.Errorf("order of %s: %w", r.ID, err)
	}
	pt, err := s.sealer.Open(r.ID, r.Order.ID, sealed)
	if err != nil {
		return nil, fmt.Errorf("order of %s: %w", r.ID, err)
	}
	if ContentHash(pt) != r.Order.SHA256 {
		return nil, fmt.Errorf("order of %s: content hash mismatch", r.ID)
	}
	return pt, nil
}

// Order returns the requester's order as its system sent it
// (NewReferral.Order), opened from the encrypted store; nil when the
// referral has none.
func (s *Service) Order(ctx context.Context, r *Referral) ([]byte, error) {
	if r.Order == nil {
		return nil, nil
	}
	var out []byte
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = s.openOrder(ctx, tx, r)
		return err
	})
	return out, err
}
