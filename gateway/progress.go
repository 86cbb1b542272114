package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
)

// UpdateProgress records the receiver's progress (FHIR Task.businessStatus)
// or a note without a lifecycle transition; only the receiver may, and only
// while the referral is open.
func (s *Service) UpdateProgress(ctx context.Context, actor Actor, id, businessStatus string, expectVersion int) (*Referral, error) {
	if strings.TrimSpace(businessStatus) == "" {
		return nil, &ValidationError{"businessStatus", "required"}
	}
	var r *Referral
	ctx, err := s.forReferral(ctx, actor, id)
	if err != nil {
		return nil, fmt.Errorf("progress on %s: %w", id, err)
	}
	err = s.update(ctx, func(tx Tx) error {
		var err error
		if r, err = tx.Referral(ctx, id, true); err != nil {
			return err
		}
		if expectVersion != 0 && expectVersion != r.Version {
			return &VersionConflict{ID: "referral " + id, Version: r.Version, Want: expectVersion}
		}
		if err := s.authorize(actor, r, SideReceiver); err != nil {
			return err
		}
		if !r.Open() || r.Status == StatusDraft {
			return &TransitionError{Machine: "referral", From: string(r.Status), To: string(r.Status),
				Rule: "progress is recorded only on a sent, open referral"}
		}
		r.BusinessStatus = businessStatus
		r.Version++
		r.Updated = s.clock.Now()
		if err := tx.UpdateReferral(ctx, r); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, r, "referral.progress", audit.OutcomeSuccess, map[string]string{"businessStatus": businessStatus})
	})
	if err != nil {
		return nil, fmt.Errorf("progress on %s: %w", id, err)
	}
	return r, nil
}

// AttachRecord adds a document to a sent referral: the receiver's consult
// note, or more records the referrer sends in answer to a question. The
// content is sealed like the referral's own records, and the exchange is
// audited.
func (s *Service) AttachRecord(ctx context.Context, actor Actor, id string, nr NewRecord) (*Referral, *Record, error) {
	var (
		r   *Referral
		rec *Record
	)
	ctx, err := s.forReferral(ctx, actor, id)
	if err != nil {
		return nil, nil, fmt.Errorf("attach record to %s: %w", id, err)
	}
	err = s.update(ctx, func(tx Tx) error {
		var err error
		r, rec, err = s.attachRecordTx(ctx, tx, actor, id, nr)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("attach record to %s: %w", id, err)
	}
	return r, rec, nil
}

// attachRecordTx is AttachRecord inside tx.
func (s *Service) attachRecordTx(ctx context.Context, tx Tx, actor Actor, id string, nr NewRecord) (*Referral, *Record, error) {
	if nr.Title == "" || nr.ContentType == "" || len(nr.Content) == 0 {
		return nil, nil, &ValidationError{"record", "title, contentType and content are required"}
	}
	rec := Record{ID: NewID(), Title: nr.Title, ContentType: nr.ContentType, SHA256: ContentHash(nr.Content), Size: int64(len(nr.Content))}
	r, err := tx.Referral(ctx, id, true)
	if err != nil {
		return nil, nil, err
	}
	side, err := s.sideFor(actor, r, r.Status)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := s.sealContent(tx, r.ID, rec.ID, nr.Content)
	if err != nil {
		return nil, nil, err
	}
	if err := tx.PutRecordContent(ctx, r.ID, rec, sealed); err != nil {
		return nil, nil, err
	}
	r.Records = append(r.Records, rec)
	r.Version++
	r.Updated = s.clock.Now()
	if err := tx.UpdateReferral(ctx, r); err != nil {
		return nil, nil, err
	}
	if err := s.audit(ctx, tx, actor, r, "records.exchanged", audit.OutcomeSuccess, map[string]string{
		"record": rec.ID, "contentType": rec.ContentType, "side": string(side)}); err != nil {
		return nil, nil, err
	}
	return r, &rec, nil
}

// ReferralVersions returns every stored version of a referral, oldest first
// (FHIR _history).
func (s *Service) ReferralVersions(ctx context.Context, id string) ([]*Referral, error) {
	var out []*Referral
	ctx, err := s.forReferral(ctx, Actor{}, id)
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", id, err)
	}
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ReferralVersions(ctx, id)
		return err
	})
	if err == nil && len(out) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", id, err)
	}
	return out, nil
}

// Delivery loads one delivery.
func (s *Service) Delivery(ctx context.Context, id string) (*Delivery, error) {
	ctx, err := s.forDelivery(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	var d *Delivery
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		d, err = tx.Delivery(ctx, id, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	return d, nil
}

// ReceiptPoller is implemented by channels that can ask the far side for a
// delivery's status (a fax vendor's status API). When a receipt deadline
// passes, the core polls once before failing the delivery.
type ReceiptPoller interface {
	PollReceipt(ctx context.Context, d *Delivery) (*Receipt, error)
}

// pollReceipt is the JobPollReceipt handler: while the delivery waits for
// its receipt and its deadline has not passed, ask the channel; record a
// receipt it reports, or ask again after ReceiptPollEvery.
func (s *Service) pollReceipt(ctx context.Context, deliveryID string) error {
	d, err := s.Delivery(ctx, deliveryID)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	if d.State != DeliverySent || d.Deadline.IsZero() || !now.Before(d.Deadline) || s.cfg.ReceiptPollEvery <= 0 {
		return nil // received, failed, or the deadline job's to decide
	}
	rc, wait := s.pollBeforeTimeout(ctx, d)
	if rc != nil {
		rc.Detail = strings.TrimSpace("polled " + rc.Detail)
		_, err := s.RecordReceipt(ctx, deliveryID, *rc, 0)
		return err
	}
	// The next poll comes after the usual interval, or later when the
	// vendor asked for it (Retry-After), but never after the deadline,
	// whose job asks once more before failing the delivery.
	return &SnoozeError{Delay: min(max(s.cfg.ReceiptPollEvery, wait), d.Deadline.Sub(now))}
}

// pollBeforeTimeout asks a polling channel for the receipt that did not
// arrive; nil means nothing more is known. wait is how long the channel's
// far side asked us to hold off (a throttled poll's Retry-After), or zero.
func (s *Service) pollBeforeTimeout(ctx context.Context, d *Delivery) (rc *Receipt, wait time.Duration) {
	p, ok := s.channels[d.Channel].(ReceiptPoller)
	if !ok {
		return nil, 0
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc, err := p.PollReceipt(pctx, d)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.Warn("poll for receipt", "delivery", d.ID, "channel", d.Channel, "err", err)
		}
		return nil, RetryDelay(err)
	}
	return rc, 0
}

// SweepExpired deletes expired edge documents (used assertion ids, idle
// sessions, callback replay records) in batches, and says how many it
// removed. `gateway serve` runs it periodically.
func (s *Service) SweepExpired(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := s.update(ctx, func(tx Tx) error {
			var err error
			n, err = tx.DeleteExpiredDocuments(ctx, s.clock.Now(), 500)
			return err
		})
		total += n
		if err != nil || n < 500 {
			return total, err
		}
	}
}
