package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/referralgw/gateway/audit"
)

// AnswerHold is the referrer's answer to the receiver's request for more
// information (an on-hold referral). In one transaction it attaches the
// records that answer it, moves the referral back to received, and, when
// the referral was delivered on a channel, queues the answer on that same
// channel (a FHIR Task update, a Direct message, a fax whose cover names
// the question it answers). The answer goes through the same send-time
// gates as the referral.
func (s *Service) AnswerHold(ctx context.Context, actor Actor, id, answer string, records ...NewRecord) (*Referral, error) {
	if strings.TrimSpace(answer) == "" {
		return nil, &ValidationError{"answer", "required"}
	}
	actor.As = SideReferrer
	ctx, err := s.forReferral(ctx, actor, id)
	if err != nil {
		return nil, fmt.Errorf("answer referral %s: %w", id, err)
	}
	var r, refused *Referral
	err = s.update(ctx, func(tx Tx) error {
		var added []string
		for _, nr := range records {
			_, rec, err := s.attachRecordTx(ctx, tx, actor, id, nr)
			if err != nil {
				return err
			}
			added = append(added, rec.ID)
		}
		var err error
		r, refused, err = s.transitionTx(ctx, tx, actor, id, StatusReceived, TransitionInput{Answer: answer, ReasonText: "more information provided"})
		if err != nil {
			return err
		}
		return s.queueAnswer(ctx, tx, r, added)
	})
	if refused != nil {
		s.refuse(ctx, actor, refused, StatusReceived, err)
	}
	if err != nil {
		return nil, fmt.Errorf("answer referral %s: %w", id, err)
	}
	return r, nil
}

// queueAnswer queues the answer to the receiver on the channel that
// delivered the referral; a referral that reached the receiver on no
// channel (it pulls from us, or nothing was delivered) has nothing to send.
func (s *Service) queueAnswer(ctx context.Context, tx Tx, r *Referral, recordIDs []string) error {
	kind := r.DeliveredVia
	if kind == "" || s.channels[kind] == nil {
		return nil
	}
	now := s.clock.Now()
	d := &Delivery{ID: NewID(), ReferralID: r.ID, Channel: kind, State: DeliveryQueued, Created: now, Updated: now,
		Purpose: PurposeAnswer, RecordIDs: recordIDs}
	ds, err := tx.Deliveries(ctx, r.ID)
	if err != nil {
		return err
	}
	for _, x := range ds {
		if x.Channel == kind && x.Purpose == "" && x.State == DeliveryDelivered && x.RemoteID != "" {
			d.AnswersRemoteID = x.RemoteID
		}
	}
	if err := tx.InsertDelivery(ctx, d); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, System, r, "delivery.queued", audit.OutcomeSuccess, map[string]string{
		"delivery": d.ID, "channel": string(kind), "purpose": string(PurposeAnswer), "records": strings.Join(recordIDs, ",")}); err != nil {
		return err
	}
	return tx.Enqueue(ctx, Job{Kind: JobDeliver, DeliveryID: d.ID})
}

// sendable says why d cannot be sent for r now ("" when it can): the
// referral itself goes while the referral is requested; an answer goes
// while the receiver still has the referral open.
func sendable(r *Referral, d *Delivery) string {
	if d.Purpose == PurposeAnswer {
		switch r.Status {
		case StatusReceived, StatusAccepted, StatusInProgress:
			return ""
		}
		return "referral is " + string(r.Status) + ": answer abandoned"
	}
	if r.Status != StatusRequested {
		return "referral is " + string(r.Status) + ": send abandoned"
	}
	return ""
}

// answerRecords keeps the records an answer carries.
func answerRecords(d *Delivery, all []RecordContent) []RecordContent {
	if d.Purpose != PurposeAnswer {
		return all
	}
	var out []RecordContent
	for _, rc := range all {
		if slices.Contains(d.RecordIDs, rc.ID) {
			out = append(out, rc)
		}
	}
	return out
}
