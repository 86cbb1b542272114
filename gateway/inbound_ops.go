package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/audit"
)

// processInbound runs the processing job of one received message.
func (s *Service) processInbound(ctx context.Context, id string, meta JobMeta) error {
	ctx = readScope(ctx, PathInbound)
	m, raw, err := s.InboundRaw(ctx, id)
	if err != nil {
		return err
	}
	if m.State != InboundReceived {
		return nil // processed by an earlier run
	}
	h, err := s.inboundHandler(m.Channel)
	if err != nil {
		return err
	}
	return h.ProcessInbound(ctx, m, raw, meta)
}

// sendNotice runs the job that sends one notice.
func (s *Service) sendNotice(ctx context.Context, id string, meta JobMeta) error {
	ctx = readScope(ctx, PathInbound)
	var (
		n *Notice
		m *InboundMessage
	)
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if n, err = tx.Notice(ctx, id, false); err != nil {
			return err
		}
		m, err = tx.Inbound(ctx, n.InboundID, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("notice %s: %w", id, err)
	}
	if n.State != NoticeQueued || n.Sends >= n.Wanted {
		return nil
	}
	h, err := s.inboundHandler(m.Channel)
	if err != nil {
		return err
	}
	return h.SendNotice(ctx, n, meta)
}

// NoticeSent records that a notice went out with the server's reply.
func (s *Service) NoticeSent(ctx context.Context, id, reply string) error {
	ctx = readScope(ctx, PathInbound)
	return s.finishNotice(ctx, id, NoticeSent, reply, "")
}

// NoticeFailed records that a notice could not be sent (a permanent
// refusal, or retries exhausted).
func (s *Service) NoticeFailed(ctx context.Context, id, reason string) error {
	ctx = readScope(ctx, PathInbound)
	return s.finishNotice(ctx, id, NoticeFailed, "", reason)
}

func (s *Service) finishNotice(ctx context.Context, id, state, reply, reason string) error {
	err := s.store.Update(ctx, func(tx Tx) error {
		n, err := tx.Notice(ctx, id, true)
		if err != nil {
			return err
		}
		if n.State != NoticeQueued {
			return nil
		}
		n.State, n.Updated, n.Wire = state, s.clock.Now(), nil
		action, outcome := "inbound.notice-sent", audit.OutcomeSuccess
		if state == NoticeSent {
			n.Sends++
			n.Reply = reply
			if n.Sends < n.Wanted {
				n.State = NoticeQueued // a duplicate asked again meanwhile; its job sends it
			}
		} else {
			n.Error = Truncate(reason, 300)
			action, outcome = "inbound.notice-failed", audit.OutcomeFailure
		}
		if err := tx.PutNotice(ctx, n); err != nil {
			return err
		}
		if err := wakeAfter(ctx, tx, n); err != nil {
			return err
		}
		detail := map[string]string{"notice": n.ID, "inbound": n.InboundID, "disposition": n.Disposition,
			"to": n.To, "reply": reply, "error": n.Error, "sends": fmt.Sprint(n.Sends)}
		for k, v := range detail {
			if v == "" {
				delete(detail, k)
			}
		}
		return tx.Audit(ctx, audit.Event{Time: s.clock.Now(), Actor: System.ID, Tenants: n.Tenants,
			ReferralID: n.ReferralID, Action: action, Outcome: outcome, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("notice %s: %w", id, err)
	}
	return nil
}

// Inbound returns one received message with its summary.
func (s *Service) Inbound(ctx context.Context, id string) (*InboundMessage, error) {
	ctx = readScope(ctx, PathInbound)
	m, _, err := s.loadInbound(ctx, id, false)
	return m, err
}

// InboundRaw returns one received message with its summary and the raw
// message as received (for Direct: still encrypted for our key).
func (s *Service) InboundRaw(ctx context.Context, id string) (*InboundMessage, []byte, error) {
	ctx = readScope(ctx, PathInbound)
	return s.loadInbound(ctx, id, true)
}

func (s *Service) loadInbound(ctx context.Context, id string, withRaw bool) (*InboundMessage, []byte, error) {
	var (
		m                 *InboundMessage
		rawSealed, sumSld []byte
	)
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if m, err = tx.Inbound(ctx, id, false); err != nil {
			return err
		}
		rawSealed, sumSld, err = tx.InboundSealed(ctx, id)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("inbound %s: %w", id, err)
	}
	if err := s.openSummary(ctx, nil, m, sumSld); err != nil {
		return nil, nil, fmt.Errorf("inbound %s: %w", id, err)
	}
	if !withRaw {
		return m, nil, nil
	}
	raw, err := s.openContent(ctx, nil, inboundSealID(m.ID), "raw", rawSealed)
	if err != nil {
		return nil, nil, fmt.Errorf("inbound %s: %w", id, err)
	}
	return m, raw, nil
}

// ListInbound lists received messages with their summaries, newest first.
func (s *Service) ListInbound(ctx context.Context, q InboundQuery) ([]*InboundMessage, error) {
	ctx = readScope(ctx, PathInbound)
	if q.State != "" && !ValidInboundState(q.State) {
		return nil, &ValidationError{"state", fmt.Sprintf("unknown inbound state %q", q.State)}
	}
	var list []*InboundMessage
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if list, err = tx.ListInbound(ctx, q); err != nil {
			return err
		}
		for _, m := range list {
			_, sum, err := tx.InboundSealed(ctx, m.ID)
			if err != nil {
				return err
			}
			if err := s.openSummary(ctx, tx, m, sum); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list inbound: %w", err)
	}
	return list, nil
}

// Notices lists the notices sent about one received message.
func (s *Service) Notices(ctx context.Context, inboundID string) ([]*Notice, error) {
	ctx = readScope(ctx, PathInbound)
	var out []*Notice
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Notices(ctx, inboundID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notices of %s: %w", inboundID, err)
	}
	return out, nil
}

// ReleaseInbound releases a quarantined message on an operator's decision:
// it is processed again, with the release recorded on it and audited.
func (s *Service) ReleaseInbound(ctx context.Context, actor Actor, id, reason string) (*InboundMessage, error) {
	return s.decideInbound(ctx, actor, id, reason, true)
}

// RejectInbound confirms a quarantined message's refusal on an operator's
// decision; it stays stored, in state rejected.
func (s *Service) RejectInbound(ctx context.Context, actor Actor, id, reason string) (*InboundMessage, error) {
	return s.decideInbound(ctx, actor, id, reason, false)
}

func (s *Service) decideInbound(ctx context.Context, actor Actor, id, reason string, release bool) (*InboundMessage, error) {
	ctx = readScope(ctx, PathInbound)
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, &ValidationError{"reason", "an operator's decision needs a reason"}
	}
	var m *InboundMessage
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if m, err = tx.Inbound(ctx, id, true); err != nil {
			return err
		}
		if err := s.inboundTenantAllowed(actor, m); err != nil {
			return err
		}
		if m.State != InboundQuarantined {
			to := InboundRejected
			if release {
				to = InboundReceived
			}
			return &TransitionError{From: string(m.State), Machine: "inbound", To: string(to), Rule: "only a quarantined message can be released or rejected"}
		}
		refused := m.Reason
		action := "inbound.rejected"
		if release {
			m.State, m.Released = InboundReceived, true
			action = "inbound.released"
		} else {
			m.State = InboundRejected
		}
		m.Decision, m.DecisionBy = Truncate(reason, 500), actor.ID
		m.Version++
		m.Updated = s.clock.Now()
		if err := tx.UpdateInbound(ctx, m, nil); err != nil {
			return err
		}
		if release {
			if err := tx.Enqueue(ctx, Job{Kind: JobInbound, Ref: m.ID}); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, audit.Event{Time: s.clock.Now(), Actor: actor.ID, Tenants: m.Tenants, ReferralID: m.ReferralID,
			Action: action, Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"inbound": m.ID, "refusal": refused, "reason": m.Decision}})
	})
	if err != nil {
		return nil, fmt.Errorf("inbound %s: %w", id, err)
	}
	return m, nil
}

// inboundTenantAllowed refuses an actor of one practice acting on another
// practice's message (an actor without an organisation acts gateway-wide).
func (s *Service) inboundTenantAllowed(actor Actor, m *InboundMessage) error {
	if actor.OrgID == "" {
		return nil
	}
	for _, t := range m.Tenants {
		if t == actor.OrgID {
			return nil
		}
	}
	return fmt.Errorf("%s may not act on inbound message %s: %w", actor.ID, m.ID, ErrForbidden)
}

// QueueNotice queues a message we send about a received one (a reply
// typed by the receiving practice) as a notice job, so it goes out once
// and its own receipts can be matched to it.
func (s *Service) QueueNotice(ctx context.Context, actor Actor, n Notice) (*Notice, error) {
	if n.ID == "" || n.InboundID == "" || n.To == "" || len(n.Wire) == 0 {
		return nil, &ValidationError{"notice", "id, inbound message, recipient and wire form are required"}
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		m, err := tx.Inbound(ctx, n.InboundID, false)
		if err != nil {
			return err
		}
		if err := s.inboundTenantAllowed(actor, m); err != nil {
			return err
		}
		now := s.clock.Now()
		n.State, n.Wanted, n.Created, n.Updated = NoticeQueued, 1, now, now
		if len(n.Tenants) == 0 {
			n.Tenants = m.Tenants
		}
		if n.ReferralID == "" {
			n.ReferralID = m.ReferralID
		}
		if err := tx.PutNotice(ctx, &n); err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, Job{Kind: JobNotice, Ref: n.ID}); err != nil {
			return err
		}
		return tx.Audit(ctx, audit.Event{Time: now, Actor: actor.ID, Tenants: n.Tenants, ReferralID: n.ReferralID,
			Action: "inbound.notice-queued", Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"notice": n.ID, "inbound": n.InboundID, "disposition": n.Disposition, "to": n.To}})
	})
	if err != nil {
		return nil, fmt.Errorf("queue notice about %s: %w", n.InboundID, err)
	}
	return &n, nil
}

// Notice loads one notice we sent (or queued), without its wire form.
func (s *Service) Notice(ctx context.Context, id string) (*Notice, error) {
	var n *Notice
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Notice(ctx, id, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notice %s: %w", id, err)
	}
	n.Wire = nil
	return n, nil
}

// wakeAfter queues the notices that wait for n (Notice.After) now that n
// was sent, or failed for good: they need wait no longer.
func wakeAfter(ctx context.Context, tx Tx, n *Notice) error {
	sibs, err := tx.Notices(ctx, n.InboundID)
	if err != nil {
		return err
	}
	for _, sib := range sibs {
		if sib.After == n.ID && sib.State == NoticeQueued {
			if err := tx.Enqueue(ctx, Job{Kind: JobNotice, Ref: sib.ID}); err != nil {
				return err
			}
		}
	}
	return nil
}
