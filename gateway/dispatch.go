package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/referralgw/gateway/audit"
)

// HandleJob runs one queued job; Service is the JobHandler the stores'
// workers call.
func (s *Service) HandleJob(ctx context.Context, j Job, meta JobMeta) (err error) {
	if m := s.cfg.Metrics; m != nil {
		start := time.Now()
		var waited time.Duration
		if !meta.ScheduledAt.IsZero() && start.After(meta.ScheduledAt) {
			waited = start.Sub(meta.ScheduledAt)
		}
		defer func() { m.JobDone(j.Kind, waited, time.Since(start), jobOutcome(err)) }()
	}
	if s.isRound(j) {
		if ctx, err = s.roundStarted(ctx, j.Kind); err != nil {
			return err
		}
	}
	switch j.Kind {
	case JobDeliver, JobReceiptDeadline, JobPollReceipt:
		// A delivery's job acts for its referral's requesting practice,
		// which the job carries (older jobs: resolved from the delivery).
		if j.Practice != "" {
			s.owners.put("d:"+j.DeliveryID, j.Practice)
		}
		ctx, err := s.forDelivery(ctx, j.DeliveryID)
		if err != nil {
			return fmt.Errorf("%s job for delivery %s: %w", j.Kind, j.DeliveryID, err)
		}
		switch j.Kind {
		case JobDeliver:
			return s.deliver(ctx, j.DeliveryID, meta)
		case JobPollReceipt:
			return s.pollReceipt(ctx, j.DeliveryID)
		}
		return s.CheckReceiptDeadline(ctx, j.DeliveryID)
	case JobInbound:
		return s.processInbound(ctx, j.Ref, meta)
	case JobNotice:
		return s.sendNotice(ctx, j.Ref, meta)
	case JobSweepExpired:
		return s.sweepJob(ctx)
	case JobVerifyDirectory:
		return s.verifyDirectory(ctx)
	case JobVerifyEntry:
		_, err := s.CheckEntry(ctx, entryCheckID(j.Ref))
		return err
	}
	if h := s.jobHandler(j.Kind); h != nil {
		return h.HandleJob(ctx, j, meta)
	}
	return fmt.Errorf("unknown job kind %q", j.Kind)
}

// deliver sends one delivery: claim it (queued → sending) after re-checking
// the gates at send time, send outside any transaction, then record the
// result. A crash between the steps leaves the delivery in sending; the
// rerun sends again with the same idempotency key (the delivery id).
func (s *Service) deliver(ctx context.Context, deliveryID string, meta JobMeta) error {
	var (
		out  *Outbound
		ch   Channel
		done bool
	)
	err := s.update(ctx, func(tx Tx) error {
		d, err := tx.Delivery(ctx, deliveryID, true)
		if err != nil {
			return err
		}
		if d.State != DeliveryQueued && d.State != DeliverySending {
			done = true // already sent, delivered or failed: nothing to do
			return nil
		}
		r, err := tx.Referral(ctx, d.ReferralID, true)
		if err != nil {
			return err
		}
		if why := sendable(r, d); why != "" {
			done = true
			return s.failDelivery(ctx, tx, r, d, why, false)
		}
		g, err := s.gates(ctx, tx, r, true)
		if err != nil {
			return err
		}
		gateErr := g.refusal
		if gateErr == nil {
			if reason, err := s.usable(ctx, tx, d.Channel, g.receiver); err != nil {
				return err
			} else if reason != "" {
				gateErr = &RoutingError{ReceiverID: g.receiver.ID, Reasons: []string{reason}}
			}
		}
		if gateErr != nil {
			done = true
			if err := s.audit(ctx, tx, System, r, "delivery.send-refused", audit.OutcomeRefused, map[string]string{
				"delivery": d.ID, "channel": string(d.Channel), "gate": gateName(gateErr), "reason": gateErr.Error()}); err != nil {
				return err
			}
			return s.failDelivery(ctx, tx, r, d, "refused at send time: "+gateErr.Error(), true)
		}
		if d.State == DeliveryQueued {
			d.State = DeliverySending
		}
		d.Attempts++
		d.Updated = s.clock.Now()
		if err := tx.UpdateDelivery(ctx, d); err != nil {
			return err
		}
		if err := s.vendorEvidence(ctx, tx, d.Channel, g.evidence); err != nil {
			return err
		}
		carried := answerRecords(d, g.records)
		detail := withPrefix(g.evidence, "baa.", map[string]string{
			"delivery": d.ID, "channel": string(d.Channel), "attempt": fmt.Sprint(d.Attempts),
			"records": recordIDs(carried)})
		if d.Purpose != "" {
			detail["purpose"] = string(d.Purpose)
		}
		if n := Part2Notice(r); n != "" {
			detail["part2Notice"] = n
		}
		if err := s.audit(ctx, tx, System, r, "delivery.sending", audit.OutcomeSuccess, detail); err != nil {
			return err
		}
		sender, err := tx.Entry(ctx, r.Requester.OrgID)
		if err != nil {
			return err
		}
		ch = s.channels[d.Channel]
		out = &Outbound{Referral: r, Delivery: d, Receiver: g.receiver, Sender: sender, Records: carried}
		out.Order, err = s.openOrder(ctx, tx, r)
		return err
	})
	if err != nil || done {
		return err
	}

	res, sendErr := ch.Send(ctx, out)

	// Record the outcome even when the job's context was cancelled mid-send
	// (graceful shutdown), so the delivery is requeued, not stuck.
	rctx := context.WithoutCancel(ctx)
	var retry error
	err = s.update(rctx, func(tx Tx) error {
		d, err := tx.Delivery(rctx, deliveryID, true)
		if err != nil {
			return err
		}
		r, err := tx.Referral(rctx, d.ReferralID, true)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		if d.State != DeliverySending {
			// A receipt overtook the recording of this send (a fast fax
			// callback, an MDN): keep the send's handle and time anyway.
			// The receipt may have recorded the handle already (it names
			// it); the send is recorded once, when SentAt is still zero.
			if sendErr == nil && d.SentAt.IsZero() && d.State == DeliveryDelivered {
				receivedAt := d.Updated
				if d.RemoteID == "" {
					d.RemoteID = res.RemoteID
				}
				d.SentAt, d.Updated = now, now
				if err := tx.UpdateDelivery(rctx, d); err != nil {
					return err
				}
				noteReceiptTime(tx, d, receivedAt)
				return s.audit(rctx, tx, System, r, "delivery.sent", audit.OutcomeSuccess, map[string]string{
					"delivery": d.ID, "channel": string(d.Channel), "remoteId": d.RemoteID, "detail": "recorded after its receipt"})
			}
			return nil // another worker got there first
		}
		if sendErr == nil {
			return s.markSent(rctx, tx, r, d, res, now)
		}
		d.LastError = Truncate(sendErr.Error(), 500)
		d.Updated = now
		final := IsPermanent(sendErr) || (meta.MaxAttempts > 0 && meta.Attempt >= meta.MaxAttempts)
		if final {
			return s.failDelivery(rctx, tx, r, d, "send failed: "+d.LastError, true)
		}
		d.State = DeliveryQueued
		if err := tx.UpdateDelivery(rctx, d); err != nil {
			return err
		}
		retry = fmt.Errorf("deliver %s: %w", d.ID, sendErr)
		detail := map[string]string{"delivery": d.ID, "channel": string(d.Channel), "attempt": fmt.Sprint(d.Attempts), "error": d.LastError}
		if wait := RetryDelay(sendErr); wait > 0 {
			detail["retryAfter"] = wait.String() // the far side's Retry-After: the queue waits at least this long
		}
		return s.audit(rctx, tx, System, r, "delivery.retry", audit.OutcomeFailure, detail)
	})
	if err != nil {
		return err
	}
	return retry
}

// markSent records a successful send, and the delivery when the send itself
// proves it; otherwise it schedules the receipt deadline.
func (s *Service) markSent(ctx context.Context, tx Tx, r *Referral, d *Delivery, res SendResult, now time.Time) error {
	d.State = DeliverySent
	d.RemoteID = res.RemoteID
	d.SentAt = now
	d.LastError = ""
	d.Updated = now
	if !res.Delivered && res.AwaitReceipt > 0 {
		// A progress receipt that overtook this recording (a processed
		// MDN for a send whose recording a crash cut short) has already
		// moved the deadline to wait for the final one: keep the later.
		if dl := now.Add(res.AwaitReceipt); dl.After(d.Deadline) {
			d.Deadline = dl
		}
	}
	if err := tx.UpdateDelivery(ctx, d); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, System, r, "delivery.sent", audit.OutcomeSuccess, map[string]string{
		"delivery": d.ID, "channel": string(d.Channel), "remoteId": res.RemoteID, "detail": res.Detail}); err != nil {
		return err
	}
	if res.Delivered {
		return s.applyReceipt(ctx, tx, r, d, Receipt{Kind: ReceiptTaskStatus, At: now, Final: true, Detail: res.Detail})
	}
	if d.Deadline.IsZero() {
		return nil
	}
	if err := tx.Enqueue(ctx, Job{Kind: JobReceiptDeadline, DeliveryID: d.ID, Practice: r.Requester.OrgID, RunAt: d.Deadline.Add(s.cfg.ReceiptGrace)}); err != nil {
		return err
	}
	if _, polls := s.channels[d.Channel].(ReceiptPoller); polls && s.cfg.ReceiptPollEvery > 0 {
		return tx.Enqueue(ctx, Job{Kind: JobPollReceipt, DeliveryID: d.ID, Practice: r.Requester.OrgID, RunAt: now.Add(s.cfg.ReceiptPollEvery)})
	}
	return nil
}

// failDelivery fails d and, when fallback is set and the referral is still
// waiting for a delivery, routes it to the next usable channel or fails the
// referral with the reasons.
func (s *Service) failDelivery(ctx context.Context, tx Tx, r *Referral, d *Delivery, reason string, fallback bool) error {
	if err := CheckDeliveryTransition(d.State, DeliveryFailed); err != nil {
		return err
	}
	d.State = DeliveryFailed
	d.LastError = Truncate(reason, 500)
	d.Updated = s.clock.Now()
	if err := tx.UpdateDelivery(ctx, d); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, System, r, "delivery.failed", audit.OutcomeFailure, map[string]string{
		"delivery": d.ID, "channel": string(d.Channel), "reason": d.LastError}); err != nil {
		return err
	}
	if !fallback || r.Status != StatusRequested {
		return nil
	}
	all, err := tx.Deliveries(ctx, r.ID)
	if err != nil {
		return err
	}
	tried := map[ChannelKind]bool{}
	failures := map[ChannelKind]int{}
	var history []string
	for _, x := range all {
		if x.State == DeliveryFailed || x.ID == d.ID {
			tried[x.Channel] = true
			failures[x.Channel]++
			history = append(history, fmt.Sprintf("%s: %s", x.Channel, x.LastError))
		} else {
			return nil // another delivery is still under way
		}
	}
	// A retryable failure (busy, no answer) earns the same channel another
	// delivery after a backoff, up to ChannelRetries.
	if n := len(d.Receipts); n > 0 && d.Receipts[n-1].Retryable && failures[d.Channel] < s.cfg.ChannelRetries {
		// The send-time gates run again when the retry is picked up.
		backoff := s.cfg.RetryBackoff << (failures[d.Channel] - 1)
		if err := s.audit(ctx, tx, System, r, "delivery.retry-scheduled", audit.OutcomeSuccess, map[string]string{
			"channel": string(d.Channel), "after": backoff.String(), "failures": fmt.Sprint(failures[d.Channel])}); err != nil {
			return err
		}
		return s.queueDeliveryAt(ctx, tx, r, d.Channel, s.clock.Now().Add(backoff))
	}
	g, err := s.gates(ctx, tx, r, false)
	if err != nil {
		return err
	}
	var next ChannelKind
	gateErr := g.refusal
	if gateErr == nil {
		if next, gateErr = s.route(ctx, tx, g.receiver, g.chain, tried); gateErr != nil && !isRoutingError(gateErr) {
			return gateErr
		}
	}
	if gateErr == nil {
		if err := s.audit(ctx, tx, System, r, "referral.fallback", audit.OutcomeSuccess, map[string]string{
			"from": string(d.Channel), "to": string(next)}); err != nil {
			return err
		}
		return s.queueDelivery(ctx, tx, r, next)
	}
	r.FailureReason = Truncate(strings.Join(append(history, gateErr.Error()), "; "), 2000)
	return s.move(ctx, tx, System, r, StatusFailed, TransitionInput{ReasonText: "no channel could deliver"})
}

// CheckReceiptDeadline fails a sent delivery whose receipt did not arrive by
// its deadline; before the deadline it asks to be run again later. A channel
// that can poll (ReceiptPoller) is asked once before the delivery fails.
func (s *Service) CheckReceiptDeadline(ctx context.Context, deliveryID string) error {
	ctx, err := s.forDelivery(ctx, deliveryID)
	if err != nil {
		return fmt.Errorf("receipt deadline of %s: %w", deliveryID, err)
	}
	if d, err := s.Delivery(ctx, deliveryID); err == nil && d.State == DeliverySent && !d.Deadline.IsZero() &&
		!s.clock.Now().Before(d.Deadline) {
		if rc, _ := s.pollBeforeTimeout(ctx, d); rc != nil {
			rc.Detail = strings.TrimSpace("polled at deadline " + rc.Detail)
			if _, err := s.RecordReceipt(ctx, deliveryID, *rc, 0); err != nil {
				return err
			}
		}
	}
	var snooze time.Duration
	err = s.update(ctx, func(tx Tx) error {
		d, err := tx.Delivery(ctx, deliveryID, true)
		if err != nil {
			return err
		}
		if d.State != DeliverySent || d.Deadline.IsZero() {
			return nil
		}
		now := s.clock.Now()
		if now.Before(d.Deadline) {
			snooze = d.Deadline.Sub(now)
			return nil
		}
		r, err := tx.Referral(ctx, d.ReferralID, true)
		if err != nil {
			return err
		}
		if err := s.audit(ctx, tx, System, r, "delivery.timeout", audit.OutcomeFailure, map[string]string{
			"delivery": d.ID, "channel": string(d.Channel), "deadline": d.Deadline.Format(time.RFC3339)}); err != nil {
			return err
		}
		return s.failDelivery(ctx, tx, r, d, "no receipt by "+d.Deadline.Format(time.RFC3339), true)
	})
	if err != nil {
		return fmt.Errorf("receipt deadline of %s: %w", deliveryID, err)
	}
	if snooze > 0 {
		return &SnoozeError{Delay: snooze}
	}
	return nil
}

// RecordReceipt applies a delivery notification from the far side (an MDN,
// a DSN, a fax callback, the receiver's Task status). A failure receipt
// fails the delivery and falls back; a final one delivers it and marks the
// referral received; a non-final one records progress and, when extend is
// positive, sets the deadline to the send time plus extend.
func (s *Service) RecordReceipt(ctx context.Context, deliveryID string, rc Receipt, extend time.Duration) (*Delivery, error) {
	ctx, err := s.forDelivery(ctx, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("receipt for delivery %s: %w", deliveryID, err)
	}
	var d *Delivery
	err = s.update(ctx, func(tx Tx) error {
		var err error
		d, err = s.recordReceiptTx(ctx, tx, deliveryID, rc, extend)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("receipt for delivery %s: %w", deliveryID, err)
	}
	return d, nil
}

// recordReceiptTx is RecordReceipt inside tx.
func (s *Service) recordReceiptTx(ctx context.Context, tx Tx, deliveryID string, rc Receipt, extend time.Duration) (d *Delivery, err error) {
	err = func() error {
		if d, err = tx.Delivery(ctx, deliveryID, true); err != nil {
			return err
		}
		r, err := tx.Referral(ctx, d.ReferralID, true)
		if err != nil {
			return err
		}
		if rc.At.IsZero() {
			rc.At = s.clock.Now()
		}
		if d.RemoteID == "" && rc.RemoteID != "" {
			// The receipt overtook the recording of its send: every branch
			// below stores d, and with it the handle the receipt names.
			d.RemoteID = rc.RemoteID
		}
		if d.State == DeliveryDelivered || d.State == DeliveryFailed {
			d.Receipts = append(d.Receipts, rc)
			if err := tx.UpdateDelivery(ctx, d); err != nil {
				return err
			}
			return s.audit(ctx, tx, System, r, "delivery.receipt-late", audit.OutcomeSuccess, map[string]string{
				"delivery": d.ID, "kind": string(rc.Kind), "state": string(d.State)})
		}
		if rc.Kind == ReceiptFailed {
			d.Receipts = append(d.Receipts, rc)
			return s.failDelivery(ctx, tx, r, d, "receipt: "+rc.Detail, true)
		}
		if !rc.Final {
			d.Receipts = append(d.Receipts, rc)
			if d.State == DeliveryQueued && extend > 0 {
				// A progress receipt (a processed MDN) for a send whose
				// reply was lost proves that send: record it, so the
				// pending retry finds the delivery sent and sends nothing,
				// and the deadline set below bounds the wait for the final
				// receipt.
				if err := CheckDeliveryTransition(d.State, DeliverySent); err != nil {
					return err
				}
				if err := s.recordProvenSend(ctx, tx, r, d, rc); err != nil {
					return err
				}
				d.State = DeliverySent
			}
			if extend > 0 {
				// The Delivery Notification guide measures every receipt
				// timeout from the send of the original message, not from
				// the receipt before it: a processed MDN that came late
				// does not buy the dispatched one more time, and a
				// repeated one cannot keep the delivery waiting forever.
				// A receipt that overtook the recording of its send
				// counts from now (the send was no later).
				base := d.SentAt
				if base.IsZero() {
					base = s.clock.Now()
				}
				d.Deadline = base.Add(extend)
				if err := tx.Enqueue(ctx, Job{Kind: JobReceiptDeadline, DeliveryID: d.ID, Practice: r.Requester.OrgID, RunAt: d.Deadline.Add(s.cfg.ReceiptGrace)}); err != nil {
					return err
				}
			}
			d.Updated = s.clock.Now()
			if err := tx.UpdateDelivery(ctx, d); err != nil {
				return err
			}
			return s.audit(ctx, tx, System, r, "delivery.receipt", audit.OutcomeSuccess, map[string]string{
				"delivery": d.ID, "kind": string(rc.Kind), "detail": rc.Detail})
		}
		return s.applyReceipt(ctx, tx, r, d, rc)
	}()
	return d, err
}

// applyReceipt delivers d and moves a requested referral to received.
func (s *Service) applyReceipt(ctx context.Context, tx Tx, r *Referral, d *Delivery, rc Receipt) error {
	if err := CheckDeliveryTransition(d.State, DeliveryDelivered); err != nil {
		return err
	}
	if d.State == DeliveryQueued {
		// The receiver answered a send whose own reply never reached us
		// (the attempt was recorded as failed and queued for a retry): the
		// receipt proves that send, so the trail records it as sent.
		if err := s.recordProvenSend(ctx, tx, r, d, rc); err != nil {
			return err
		}
	}
	d.State = DeliveryDelivered
	d.Receipts = append(d.Receipts, rc)
	d.Deadline = time.Time{}
	d.Updated = s.clock.Now()
	if err := tx.UpdateDelivery(ctx, d); err != nil {
		return err
	}
	noteReceiptTime(tx, d, d.Updated)
	if err := s.audit(ctx, tx, System, r, "delivery.delivered", audit.OutcomeSuccess, map[string]string{
		"delivery": d.ID, "channel": string(d.Channel), "receipt": string(rc.Kind), "detail": rc.Detail}); err != nil {
		return err
	}
	if r.Status == StatusRequested {
		if r.DeliveredVia == "" {
			r.DeliveredVia = d.Channel
		}
		return s.move(ctx, tx, System, r, StatusReceived, TransitionInput{ReasonText: "delivery receipt"})
	}
	return nil
}

// recordProvenSend records as sent a queued delivery that rc, a final
// receipt, proves was received. The send happened no later than the
// recording of its failed attempt, d.Updated, which becomes its send time.
func (s *Service) recordProvenSend(ctx context.Context, tx Tx, r *Referral, d *Delivery, rc Receipt) error {
	if d.SentAt.IsZero() {
		d.SentAt = d.Updated
	}
	return s.audit(ctx, tx, System, r, "delivery.sent", audit.OutcomeSuccess, map[string]string{
		"delivery": d.ID, "channel": string(d.Channel), "remoteId": d.RemoteID,
		"detail": "proven by its " + string(rc.Kind) + " receipt; the send's own reply was lost"})
}

// completeOpenDeliveries marks deliveries still waiting for a receipt as
// delivered when the receiver's own action proves receipt.
func (s *Service) completeOpenDeliveries(ctx context.Context, tx Tx, r *Referral, kind ReceiptKind, detail string) error {
	ds, err := tx.Deliveries(ctx, r.ID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.State != DeliverySent {
			continue
		}
		if r.DeliveredVia == "" {
			r.DeliveredVia = d.Channel // stored by the transition that follows
		}
		d.State = DeliveryDelivered
		d.Deadline = time.Time{}
		d.Receipts = append(d.Receipts, Receipt{Kind: kind, At: s.clock.Now(), Final: true, Detail: detail})
		d.Updated = s.clock.Now()
		if err := tx.UpdateDelivery(ctx, d); err != nil {
			return err
		}
		noteReceiptTime(tx, d, d.Updated)
		if err := s.audit(ctx, tx, System, r, "delivery.delivered", audit.OutcomeSuccess, map[string]string{
			"delivery": d.ID, "channel": string(d.Channel), "receipt": string(kind)}); err != nil {
			return err
		}
	}
	return nil
}

// DeliveryByRemoteID finds the delivery a receipt refers to. A caller
// that does not act for a practice (a vendor's callback, an inbound MDN)
// looks it up on the named path PathResolve: the delivery carries ids and
// states, no PHI.
func (s *Service) DeliveryByRemoteID(ctx context.Context, channel ChannelKind, remoteID string) (*Delivery, error) {
	if ScopeFrom(ctx).Empty() {
		ctx = GatewayWide(ctx, PathResolve)
	}
	var d *Delivery
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		d, err = tx.DeliveryByRemoteID(ctx, channel, remoteID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delivery %s/%s: %w", channel, remoteID, err)
	}
	return d, nil
}

// Truncate shortens s to at most n bytes plus "…" for an error text, an
// audit detail or a header, never cutting a character in two; bytes that
// are not UTF-8 become "?".
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
