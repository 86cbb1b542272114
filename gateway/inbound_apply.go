package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/referralgw/gateway/audit"
)

// InboundOutcome is what processing decided for one received message. The
// handler works it out outside any transaction (decrypting, verifying,
// reading the referral it answers); ApplyInbound commits all of it at once.
type InboundOutcome struct {
	State      InboundState
	Kind       string
	From       string
	Signer     string
	ReferralID string
	DeliveryID string
	Applied    string
	Reason     string
	Error      string
	// Tenants replaces the tenants named at receipt when set.
	Tenants []string
	Summary *InboundSummary
	// Receipt is applied to DeliveryID; Extend sets its deadline to the
	// send time plus Extend (a processed MDN that waits for dispatched).
	Receipt *Receipt
	Extend  time.Duration
	// To moves ReferralID on behalf of Actor (a reply's accept or decline).
	To    Status
	Input TransitionInput
	Actor Actor
	// Records are attached to ReferralID on behalf of Actor.
	Records []NewRecord
	// Notices are queued and sent as jobs after commit.
	Notices []Notice
	// Events are appended to the audit trail (Time defaults to now).
	Events []audit.Event
}

// ApplyInbound commits the outcome of processing message id: its state and
// metadata, the receipt, transition and records it carries, its audit
// events and its queued notices, in one transaction. A message that is no
// longer waiting for processing (applied by an earlier run) is left as it
// is. A receipt, transition or record the core refuses (an illegal
// transition, a delivery that cannot take the receipt) does not fail the
// message: the rest is applied and the refusal is recorded on it.
func (s *Service) ApplyInbound(ctx context.Context, id string, out InboundOutcome) (*InboundMessage, error) {
	ctx = readScope(ctx, PathInbound)
	if !ValidInboundState(out.State) || out.State == InboundReceived {
		return nil, &ValidationError{"state", fmt.Sprintf("%q is not an outcome", out.State)}
	}
	for range 4 {
		m, refusal, err := s.applyInbound(ctx, id, out)
		if err == nil || refusal == "" {
			if err != nil {
				return nil, fmt.Errorf("apply inbound %s: %w", id, err)
			}
			return m, nil
		}
		// Roll the refused part out and apply the rest.
		switch refusal {
		case "receipt":
			out.Applied = joinApplied(out.Applied, "receipt refused: "+Truncate(err.Error(), 200))
			out.Receipt = nil
		case "transition":
			out.Applied = joinApplied(out.Applied, "transition refused: "+Truncate(err.Error(), 200))
			out.To = ""
		case "records":
			out.Applied = joinApplied(out.Applied, "records refused: "+Truncate(err.Error(), 200))
			out.Records = nil
		}
		out.Events = append(out.Events, audit.Event{Actor: System.ID, Tenants: out.Tenants, ReferralID: out.ReferralID,
			Action: "inbound.apply-refused", Outcome: audit.OutcomeRefused,
			Detail: map[string]string{"inbound": id, "part": refusal, "reason": Truncate(err.Error(), 300)}})
	}
	return nil, fmt.Errorf("apply inbound %s: too many refusals", id)
}

func joinApplied(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// applyInbound is one attempt; refusal names the part the core refused.
func (s *Service) applyInbound(ctx context.Context, id string, out InboundOutcome) (m *InboundMessage, refusal string, err error) {
	err = s.update(ctx, func(tx Tx) error {
		if m, err = tx.Inbound(ctx, id, true); err != nil {
			return err
		}
		if m.State != InboundReceived {
			return nil // applied before: the rerun changes nothing
		}
		now := s.clock.Now()
		if out.Receipt != nil && out.DeliveryID != "" {
			if _, err := s.recordReceiptTx(ctx, tx, out.DeliveryID, *out.Receipt, out.Extend); err != nil {
				if refusedByCore(err) {
					refusal = "receipt"
				}
				return err
			}
		}
		if out.To != "" && out.ReferralID != "" {
			r, refused, err := s.transitionTx(ctx, tx, out.Actor, out.ReferralID, out.To, out.Input)
			if err != nil {
				if refused != nil || refusedByCore(err) {
					refusal = "transition"
				}
				return err
			}
			_ = r
		}
		for _, nr := range out.Records {
			if _, _, err := s.attachRecordTx(ctx, tx, out.Actor, out.ReferralID, nr); err != nil {
				if refusedByCore(err) {
					refusal = "records"
				}
				return err
			}
		}
		m.State, m.Kind, m.From, m.Signer = out.State, out.Kind, out.From, out.Signer
		m.ReferralID, m.DeliveryID, m.Applied = out.ReferralID, out.DeliveryID, out.Applied
		m.Reason, m.Error = out.Reason, out.Error
		if len(out.Tenants) > 0 {
			m.Tenants = out.Tenants
		}
		m.Summary = out.Summary
		m.Version++
		m.Updated = now
		sealed, err := s.sealSummary(tx, m)
		if err != nil {
			return err
		}
		if err := tx.UpdateInbound(ctx, m, sealed); err != nil {
			return err
		}
		queued := map[string]bool{}
		for _, n := range out.Notices {
			queued[n.ID] = true
		}
		for _, n := range out.Notices {
			// One notice per id (ids derive from what they answer). A
			// message processed again after an operator's release keeps
			// the notices it was answered with and sends none twice; a
			// refused message's copy, processed on its own, asks again
			// for the same notices, which are queued again as for any
			// copy (answerDuplicate) without losing their history.
			prev, err := tx.Notice(ctx, n.ID, true)
			switch {
			case err == nil:
				if prev.InboundID == m.ID || prev.State == NoticeFailed {
					continue
				}
				prev.State, prev.Updated = NoticeQueued, now
				prev.Wanted++
				if err := tx.PutNotice(ctx, prev); err != nil {
					return err
				}
				if err := tx.Enqueue(ctx, noticeJob(prev, queued, now)); err != nil {
					return err
				}
				continue
			case !errors.Is(err, ErrNotFound):
				return err
			}
			n.InboundID, n.State, n.Wanted, n.Created, n.Updated = m.ID, NoticeQueued, 1, now, now
			if len(n.Tenants) == 0 {
				n.Tenants = m.Tenants
			}
			if err := tx.PutNotice(ctx, &n); err != nil {
				return err
			}
			if err := tx.Enqueue(ctx, noticeJob(&n, queued, now)); err != nil {
				return err
			}
		}
		for _, ev := range out.Events {
			if ev.Time.IsZero() {
				ev.Time = now
			}
			if len(ev.Tenants) == 0 {
				ev.Tenants = m.Tenants
			}
			if err := tx.Audit(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	return m, refusal, err
}

// refusedByCore reports whether err is one of the core's typed refusals,
// which applying the same message again cannot change.
func refusedByCore(err error) bool {
	var (
		te *TransitionError
		ve *ValidationError
		vs ValidationErrors
	)
	return errors.As(err, &te) || errors.As(err, &ve) || errors.As(err, &vs) ||
		errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound)
}

// sealSummary seals m's summary for storage (nil when there is none).
func (s *Service) sealSummary(tx Tx, m *InboundMessage) ([]byte, error) {
	if m.Summary == nil {
		return nil, nil
	}
	b, err := json.Marshal(m.Summary)
	if err != nil {
		return nil, err
	}
	return s.sealContent(tx, inboundSealID(m.ID), "summary", b)
}

// openSummary restores the summary sealed beside m (tx may be nil, see
// openContent).
func (s *Service) openSummary(ctx context.Context, tx Tx, m *InboundMessage, sealed []byte) error {
	if len(sealed) == 0 {
		return nil
	}
	b, err := s.openContent(ctx, tx, inboundSealID(m.ID), "summary", sealed)
	if err != nil {
		return err
	}
	m.Summary = &InboundSummary{}
	return json.Unmarshal(b, m.Summary)
}

// noticeJob is the job that sends n, queued at now with the notices named
// in queued. A notice that comes After one of those waits for it: finishNotice
// queues it once that one is sent or failed, and this job, NoticeAfterWait
// later, is the bound.
func noticeJob(n *Notice, queued map[string]bool, now time.Time) Job {
	j := Job{Kind: JobNotice, Ref: n.ID}
	if n.After != "" && queued[n.After] {
		j.RunAt = now.Add(NoticeAfterWait)
	}
	return j
}
