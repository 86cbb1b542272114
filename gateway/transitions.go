package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/audit"
)

// TransitionInput carries the why of a transition and what the target state
// needs: a question for on-hold, an answer to leave it, an outcome to
// complete, a reason to reject or cancel.
type TransitionInput struct {
	Reason         Coding   `json:"reason,omitzero"`
	ReasonText     string   `json:"reasonText,omitempty"`
	BusinessStatus string   `json:"businessStatus,omitempty"`
	Question       string   `json:"question,omitempty"`
	Answer         string   `json:"answer,omitempty"`
	Outcome        *Outcome `json:"outcome,omitempty"`
	// ExpectVersion, when set, refuses the change with ErrConflict unless
	// the referral is still at that version (FHIR If-Match).
	ExpectVersion int `json:"expectVersion,omitempty"`
}

// auditAction names the trail action of entering a state.
var auditAction = map[Status]string{
	StatusRequested:  "referral.requested",
	StatusReceived:   "referral.received",
	StatusAccepted:   "referral.accepted",
	StatusRejected:   "referral.declined",
	StatusOnHold:     "referral.info-requested",
	StatusInProgress: "referral.started",
	StatusCompleted:  "referral.closed",
	StatusCancelled:  "referral.cancelled",
	StatusFailed:     "referral.failed",
}

// Transition moves a referral to another lifecycle state on behalf of actor.
// An illegal move is refused with a *TransitionError and changes nothing.
func (s *Service) Transition(ctx context.Context, actor Actor, id string, to Status, in TransitionInput) (*Referral, error) {
	if to == StatusRequested {
		// Sending is never a bare status change: it runs the gates and
		// queues the delivery.
		return s.SubmitAt(ctx, actor, id, in.ExpectVersion)
	}
	var r, refused *Referral
	ctx, err := s.forReferral(ctx, actor, id)
	if err != nil {
		return nil, fmt.Errorf("referral %s: %w", id, err)
	}
	err = s.update(ctx, func(tx Tx) error {
		var err error
		r, refused, err = s.transitionTx(ctx, tx, actor, id, to, in)
		return err
	})
	if refused != nil {
		// The transaction rolled back; the refusal is recorded on its own.
		s.refuse(ctx, actor, refused, to, err)
	}
	if err != nil {
		return nil, fmt.Errorf("referral %s → %s: %w", id, to, err)
	}
	return r, nil
}

// transitionTx is Transition inside tx. refused is the referral when the
// state machine refused the move (the caller records the refusal after
// rolling back).
func (s *Service) transitionTx(ctx context.Context, tx Tx, actor Actor, id string, to Status, in TransitionInput) (r, refused *Referral, err error) {
	if r, err = tx.Referral(ctx, id, true); err != nil {
		return nil, nil, err
	}
	if in.ExpectVersion != 0 && in.ExpectVersion != r.Version {
		return nil, nil, &VersionConflict{ID: "referral " + id, Version: r.Version, Want: in.ExpectVersion}
	}
	side, err := s.sideFor(actor, r, to)
	if err != nil {
		return nil, nil, err
	}
	// A receiver that answers a referral it has not acknowledged yet has
	// evidently received it: record the receipt first.
	if r.Status == StatusRequested && side == SideReceiver && to != StatusReceived &&
		CheckTransition(StatusReceived, to, SideReceiver) == nil {
		if err := s.move(ctx, tx, Actor{ID: actor.ID, OrgID: actor.OrgID, As: SideReceiver}, r, StatusReceived, TransitionInput{}); err != nil {
			return nil, nil, err
		}
		if err := s.completeOpenDeliveries(ctx, tx, r, ReceiptTaskStatus, "receiver acted on the referral"); err != nil {
			return nil, nil, err
		}
	}
	if err := CheckTransition(r.Status, to, side); err != nil {
		return nil, r, err
	}
	if err := requireInput(to, in); err != nil {
		return nil, nil, err
	}
	if err := s.move(ctx, tx, Actor{ID: actor.ID, OrgID: actor.OrgID, As: side}, r, to, in); err != nil {
		return nil, nil, err
	}
	return r, nil, nil
}

// refuse records a refused transition in the trail in its own transaction,
// after the caller's transaction rolled back.
func (s *Service) refuse(ctx context.Context, actor Actor, r *Referral, to Status, cause error) {
	err := s.update(context.WithoutCancel(ctx), func(tx Tx) error {
		return s.audit(ctx, tx, actor, r, "referral.transition-refused", audit.OutcomeRefused, map[string]string{
			"from": string(r.Status), "to": string(to), "reason": cause.Error()})
	})
	if err != nil {
		s.log.Error("audit refused transition", "referral", r.ID, "err", err)
	}
}

// requireInput checks what the target state needs.
func requireInput(to Status, in TransitionInput) error {
	switch to {
	case StatusRejected, StatusCancelled:
		if in.Reason.Code == "" && strings.TrimSpace(in.ReasonText) == "" {
			return &ValidationError{"reason", fmt.Sprintf("a reason (code or text) is required to move a referral to %s", to)}
		}
	case StatusOnHold:
		if strings.TrimSpace(in.Question) == "" {
			return &ValidationError{"question", "on-hold needs the question the receiver asks"}
		}
	case StatusCompleted:
		if in.Outcome == nil || (in.Outcome.Reference == "" && in.Outcome.Summary == "" && in.Outcome.RecordID == "") {
			return &ValidationError{"outcome", "completing a referral needs the documented outcome (a consult note reference or summary)"}
		}
	}
	return nil
}

// sideFor decides which side actor acts on for r.
func (s *Service) sideFor(actor Actor, r *Referral, to Status) (Side, error) {
	if actor.ID == System.ID {
		return SideSystem, nil
	}
	var sides []Side
	if actor.OrgID == "" || actor.OrgID == r.Requester.OrgID {
		sides = append(sides, SideReferrer)
	}
	if actor.OrgID == "" || actor.OrgID == r.ReceiverOrgID || actor.OrgID == r.ReceiverID {
		sides = append(sides, SideReceiver)
	}
	if len(sides) == 0 {
		// Another practice's referral does not exist for this actor (on
		// PostgreSQL its row is not even visible).
		return "", fmt.Errorf("referral %s: %w", r.ID, ErrNotFound)
	}
	if actor.As != "" {
		for _, sd := range sides {
			if sd == actor.As {
				return sd, nil
			}
		}
		return "", fmt.Errorf("%s cannot act as %s on %s: %w", actor.ID, actor.As, r.ID, ErrForbidden)
	}
	for _, sd := range sides {
		if CheckTransition(r.Status, to, sd) == nil {
			return sd, nil
		}
	}
	return sides[0], nil
}

// authorize checks that actor may act on r as side.
func (s *Service) authorize(actor Actor, r *Referral, side Side) error {
	if actor.ID == System.ID || actor.OrgID == "" {
		return nil
	}
	if side == SideReferrer && actor.OrgID == r.Requester.OrgID {
		return nil
	}
	if side == SideReceiver && (actor.OrgID == r.ReceiverOrgID || actor.OrgID == r.ReceiverID) {
		return nil
	}
	if !r.Involves(actor.OrgID) && actor.OrgID != r.ReceiverID {
		return fmt.Errorf("referral %s: %w", r.ID, ErrNotFound)
	}
	return fmt.Errorf("%s may not act as %s on %s: %w", actor.ID, side, r.ID, ErrForbidden)
}

// move applies a checked transition, records it, bumps the version and
// audits it.
func (s *Service) move(ctx context.Context, tx Tx, actor Actor, r *Referral, to Status, in TransitionInput) error {
	now := s.clock.Now()
	from := r.Status
	r.History = append(r.History, Transition{From: from, To: to, Actor: actor.ID, At: now,
		ReasonCode: in.Reason.Code, ReasonText: in.ReasonText})
	r.Status = to
	r.StatusReason = in.Reason
	if in.Reason.Code == "" && in.ReasonText != "" {
		r.StatusReason = Coding{Display: in.ReasonText}
	}
	if in.BusinessStatus != "" {
		r.BusinessStatus = in.BusinessStatus
	}
	switch to {
	case StatusOnHold:
		r.Question, r.Answer = in.Question, ""
	case StatusReceived:
		if from == StatusOnHold {
			r.Answer = in.Answer
		}
	case StatusCompleted:
		o := *in.Outcome
		if o.At.IsZero() {
			o.At = now
		}
		r.Outcome = &o
	}
	r.Version++
	r.Updated = now
	if err := tx.UpdateReferral(ctx, r); err != nil {
		return err
	}
	detail := map[string]string{"from": string(from), "to": string(to)}
	if in.Reason.Code != "" {
		detail["reasonCode"] = in.Reason.Code
	}
	if side := actor.As; side != "" {
		detail["side"] = string(side)
	}
	if to == StatusCompleted && r.Outcome != nil {
		detail["outcome"] = outcomeCitation(r.Outcome)
	}
	return s.audit(ctx, tx, actor, r, auditAction[to], audit.OutcomeSuccess, detail)
}

// OverrideMinimumNecessary records a reasoned override of the
// minimum-necessary block on a draft; the override is audited.
func (s *Service) OverrideMinimumNecessary(ctx context.Context, actor Actor, id, reason string) (*Referral, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, &ValidationError{"reason", "an override needs a reason"}
	}
	var r *Referral
	ctx, err := s.forReferral(ctx, actor, id)
	if err != nil {
		return nil, fmt.Errorf("override minimum necessary on %s: %w", id, err)
	}
	err = s.update(ctx, func(tx Tx) error {
		var err error
		if r, err = tx.Referral(ctx, id, true); err != nil {
			return err
		}
		if err := s.authorize(actor, r, SideReferrer); err != nil {
			return err
		}
		if r.Status != StatusDraft {
			return &TransitionError{Machine: "referral", From: string(r.Status), To: string(r.Status), Rule: "only a draft's minimum-necessary block can be overridden"}
		}
		r.MinimumNecessaryOverride = &Override{Reason: reason, Actor: actor.ID, At: s.clock.Now()}
		r.Version++
		r.Updated = s.clock.Now()
		if err := tx.UpdateReferral(ctx, r); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, r, "minimum-necessary.overridden", audit.OutcomeSuccess, map[string]string{"reason": reason})
	})
	if err != nil {
		return nil, fmt.Errorf("override minimum necessary on %s: %w", id, err)
	}
	return r, nil
}

// Replace re-routes a rejected or failed referral: a new referral to
// receiverID that replaces the old one, with the same patient, reason,
// consent and records. The new one is submitted when submit is set.
func (s *Service) Replace(ctx context.Context, actor Actor, oldID, receiverID string, submit bool) (*Referral, error) {
	var nr *Referral
	var refusal error
	// One transaction, the old referral locked: a replacement exists if and
	// only if the old referral names it, and a retried call cannot make two.
	ctx, err := s.forReferral(ctx, actor, oldID)
	if err != nil {
		return nil, fmt.Errorf("replace referral %s: %w", oldID, err)
	}
	err = s.update(ctx, func(tx Tx) error {
		old, err := tx.Referral(ctx, oldID, true)
		if err != nil {
			return err
		}
		if err := s.authorize(actor, old, SideReferrer); err != nil {
			return err
		}
		if old.Status != StatusRejected && old.Status != StatusFailed {
			return &TransitionError{Machine: "referral", From: string(old.Status), To: "replaced",
				Rule: "only a rejected or failed referral is re-routed"}
		}
		if old.ReplacedBy != "" {
			return fmt.Errorf("referral %s was already replaced by %s: %w", oldID, old.ReplacedBy, ErrConflict)
		}
		recs, err := s.recordContents(ctx, tx, old, false)
		if err != nil {
			return err
		}
		n := NewReferral{Requester: old.Requester, ReceiverID: receiverID, Patient: old.Patient, Reason: old.Reason,
			ReasonText: old.ReasonText, Priority: old.Priority, Consent: old.Consent, Sensitive: old.Sensitive,
			Replaces: old.ID, Submit: submit}
		for _, rc := range recs {
			n.Records = append(n.Records, NewRecord{Title: rc.Title, ContentType: rc.ContentType, Content: rc.Content})
		}
		if err := n.Validate(); err != nil {
			return err
		}
		if nr, refusal, err = s.createTx(ctx, tx, actor, n); err != nil {
			return err
		}
		old.ReplacedBy = nr.ID
		old.Version++
		old.Updated = s.clock.Now()
		if err := tx.UpdateReferral(ctx, old); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, old, "referral.replaced", audit.OutcomeSuccess, map[string]string{"replacedBy": nr.ID, "receiver": receiverID})
	})
	if err != nil {
		return nil, fmt.Errorf("replace referral %s: %w", oldID, err)
	}
	return nr, refusal
}
