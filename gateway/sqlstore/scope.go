package sqlstore

import (
	"context"
	"fmt"

	"github.com/referralgw/gateway/gateway"
)

// scopedTx keeps a transaction that acts for one practice to that
// practice's rows on a database without row-level security (SQLite): the
// same rules the PostgreSQL policies of migration 005 enforce, applied in
// code to every method that reads or writes a practice's rows. A referral
// is the practice's when it is its requester or its receiver's practice;
// what hangs off a referral (versions, records, deliveries) follows it;
// consents and audit entries are their tenant's; the directory is read by
// all and changed only on a gateway-wide path.
type scopedTx struct {
	*tx
	practice string
	// visible holds the referrals this transaction has found to be the
	// practice's, so that a referral's records and deliveries do not each
	// look its practices up again.
	visible map[string]bool
}

// unwrap returns the store's own transaction behind a gateway.Tx.
func unwrap(t gateway.Tx) *tx {
	if s, ok := t.(*scopedTx); ok {
		return s.tx
	}
	return t.(*tx)
}

// scopeTx wraps t for the scope of ctx when the database does not enforce
// it itself.
func scopeTx(ctx context.Context, t *tx) gateway.Tx {
	sc := gateway.ScopeFrom(ctx)
	if t.d.RowSecurity || sc.Practice == "" || sc.GatewayPath != "" {
		return t
	}
	return &scopedTx{tx: t, practice: sc.Practice, visible: map[string]bool{}}
}

func (s *scopedTx) notFound(what, id string) error {
	return fmt.Errorf("%s %s: %w", what, id, gateway.ErrNotFound)
}

// referralVisible reports ErrNotFound unless referral id is the practice's.
func (s *scopedTx) referralVisible(ctx context.Context, id string) error {
	if s.visible[id] {
		return nil
	}
	var req, recv string
	if err := s.queryRow(ctx, `SELECT requester_org, receiver_org FROM referrals WHERE id=$1`, id).Scan(&req, &recv); err != nil {
		return fmt.Errorf("referral %s: %w", id, err)
	}
	if req != s.practice && recv != s.practice {
		return s.notFound("referral", id)
	}
	s.visible[id] = true
	return nil
}

func (s *scopedTx) one(r *gateway.Referral, err error, what, id string) (*gateway.Referral, error) {
	if err != nil {
		return nil, err
	}
	if !r.Involves(s.practice) {
		return nil, s.notFound(what, id)
	}
	return r, nil
}

func (s *scopedTx) filter(rs []*gateway.Referral, err error) ([]*gateway.Referral, error) {
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Involves(s.practice) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *scopedTx) InsertReferral(ctx context.Context, r *gateway.Referral) error {
	if !r.Involves(s.practice) {
		return fmt.Errorf("referral %s of %s acting for %s: %w", r.ID, r.Requester.OrgID, s.practice, gateway.ErrForbidden)
	}
	if err := s.tx.InsertReferral(ctx, r); err != nil {
		return err
	}
	s.visible[r.ID] = true
	return nil
}

func (s *scopedTx) UpdateReferral(ctx context.Context, r *gateway.Referral) error {
	if err := s.referralVisible(ctx, r.ID); err != nil {
		return err
	}
	if err := s.tx.UpdateReferral(ctx, r); err != nil {
		return err
	}
	s.visible[r.ID] = r.Involves(s.practice) // the update may have moved it
	return nil
}

func (s *scopedTx) Referral(ctx context.Context, id string, lock bool) (*gateway.Referral, error) {
	r, err := s.tx.Referral(ctx, id, lock)
	if r, err = s.one(r, err, "referral", id); err == nil {
		s.visible[id] = true
	}
	return r, err
}

func (s *scopedTx) ReferralByIdentifier(ctx context.Context, org, identifier string) (*gateway.Referral, error) {
	r, err := s.tx.ReferralByIdentifier(ctx, org, identifier)
	return s.one(r, err, "referral", org+"/"+identifier)
}

func (s *scopedTx) ReferralVersion(ctx context.Context, id string, version int) (*gateway.Referral, error) {
	r, err := s.tx.ReferralVersion(ctx, id, version)
	return s.one(r, err, "referral", id)
}

func (s *scopedTx) ReferralVersions(ctx context.Context, id string) ([]*gateway.Referral, error) {
	return s.filter(s.tx.ReferralVersions(ctx, id))
}

func (s *scopedTx) ListReferrals(ctx context.Context, q gateway.ReferralQuery) ([]*gateway.Referral, error) {
	return s.filter(s.tx.ListReferrals(ctx, q))
}

func (s *scopedTx) ReferralPractice(ctx context.Context, id string) (string, error) {
	if err := s.referralVisible(ctx, id); err != nil {
		return "", err
	}
	return s.tx.ReferralPractice(ctx, id)
}

func (s *scopedTx) DeliveryPractice(ctx context.Context, id string) (string, error) {
	if _, err := s.Delivery(ctx, id, false); err != nil {
		return "", err
	}
	return s.tx.DeliveryPractice(ctx, id)
}

func (s *scopedTx) PutRecordContent(ctx context.Context, referralID string, rec gateway.Record, sealed []byte) error {
	if err := s.referralVisible(ctx, referralID); err != nil {
		return err
	}
	return s.tx.PutRecordContent(ctx, referralID, rec, sealed)
}

func (s *scopedTx) RecordContent(ctx context.Context, referralID, recordID string) ([]byte, error) {
	if err := s.referralVisible(ctx, referralID); err != nil {
		return nil, s.notFound("record", recordID)
	}
	return s.tx.RecordContent(ctx, referralID, recordID)
}

func (s *scopedTx) RecordReferral(ctx context.Context, recordID string) (string, error) {
	id, err := s.tx.RecordReferral(ctx, recordID)
	if err != nil {
		return "", err
	}
	if err := s.referralVisible(ctx, id); err != nil {
		return "", s.notFound("record", recordID)
	}
	return id, nil
}

func (s *scopedTx) InsertDelivery(ctx context.Context, d *gateway.Delivery) error {
	if err := s.referralVisible(ctx, d.ReferralID); err != nil {
		return err
	}
	return s.tx.InsertDelivery(ctx, d)
}

func (s *scopedTx) UpdateDelivery(ctx context.Context, d *gateway.Delivery) error {
	if _, err := s.Delivery(ctx, d.ID, false); err != nil {
		return err
	}
	return s.tx.UpdateDelivery(ctx, d)
}

func (s *scopedTx) Delivery(ctx context.Context, id string, lock bool) (*gateway.Delivery, error) {
	d, err := s.tx.Delivery(ctx, id, lock)
	if err != nil {
		return nil, err
	}
	if s.referralVisible(ctx, d.ReferralID) != nil {
		return nil, s.notFound("delivery", id)
	}
	return d, nil
}

func (s *scopedTx) Deliveries(ctx context.Context, referralID string) ([]*gateway.Delivery, error) {
	if s.referralVisible(ctx, referralID) != nil {
		return nil, nil
	}
	return s.tx.Deliveries(ctx, referralID)
}

func (s *scopedTx) DeliveryByRemoteID(ctx context.Context, channel gateway.ChannelKind, remoteID string) (*gateway.Delivery, error) {
	d, err := s.tx.DeliveryByRemoteID(ctx, channel, remoteID)
	if err != nil {
		return nil, err
	}
	if s.referralVisible(ctx, d.ReferralID) != nil {
		return nil, s.notFound("delivery", string(channel)+" "+remoteID)
	}
	return d, nil
}

func (s *scopedTx) PutEntry(ctx context.Context, e *gateway.Entry) error {
	return fmt.Errorf("entry %s: directory administration is gateway-wide: %w", e.ID, gateway.ErrForbidden)
}

func (s *scopedTx) PutEntryChecks(ctx context.Context, id string, _ []gateway.ChannelCheck) error {
	return fmt.Errorf("entry %s: directory checks are gateway-wide: %w", id, gateway.ErrForbidden)
}

func (s *scopedTx) PutConsent(ctx context.Context, c *gateway.ConsentRecord) error {
	if c.Tenant != s.practice {
		return fmt.Errorf("consent of %s acting for %s: %w", c.Tenant, s.practice, gateway.ErrForbidden)
	}
	return s.tx.PutConsent(ctx, c)
}

func (s *scopedTx) Consents(ctx context.Context, tenant, patientID string) ([]gateway.ConsentRecord, error) {
	if tenant != s.practice {
		return nil, nil
	}
	return s.tx.Consents(ctx, tenant, patientID)
}
