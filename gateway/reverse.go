package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/referralgw/gateway/audit"
)

// ReverseInput is a receiver's new referral made from one it received:
// back to the referrer (specialty back to primary) or onward to another
// provider.
type ReverseInput struct {
	// ReceiverID is who the new referral goes to; empty means back to the
	// original referrer (its provider when in the directory, else its practice).
	ReceiverID string
	Reason     Coding // empty: the original reason
	ReasonText string
	Priority   Priority
	Records    []NewRecord
	// ConsentID names an authorization or Part 2 consent the new referrer
	// holds, when the basis needs one.
	ConsentID string
	// Phone is the new referrer's callback number (printed on fax covers).
	Phone  string
	Submit bool
}

// inheritsConsent reports whether a follow-up referral may rest on the
// original's consent basis without asking again: only a treatment
// disclosure (164.506(c)) of records that need nothing more. An
// authorization or a Part 2 consent names its recipients and the practice
// that holds it, so the new referrer must have its own on file.
func inheritsConsent(r *Referral) bool {
	return r.Consent.Kind == ConsentTreatment && !r.Sensitive.Part2 && !r.Sensitive.PsychotherapyNotes &&
		(r.Consent.Purpose == "" || r.Consent.Purpose == "treatment")
}

// Reverse creates a referral from the receiver of origID back to its
// referrer or onward, linked both ways (BasedOn and FollowUps). It goes
// through the same gates and channels as any referral: a treatment basis
// is inherited, an authorization or Part 2 basis is asked again of the new
// referrer (the draft waits with the gap named until it is on file).
func (s *Service) Reverse(ctx context.Context, actor Actor, origID string, in ReverseInput) (*Referral, error) {
	if ScopeFrom(ctx).Empty() && actor.OrgID == "" {
		// A gateway-wide actor reverses as the original's receiver, the
		// practice that becomes the new referrer.
		orig, _, err := s.Referral(ctx, origID)
		if err != nil {
			return nil, fmt.Errorf("refer back or onward from %s: %w", origID, err)
		}
		ctx = WithPractice(ctx, orig.ReceiverOrgID)
	}
	ctx, err := s.forReferral(ctx, actor, origID)
	if err != nil {
		return nil, fmt.Errorf("refer back or onward from %s: %w", origID, err)
	}
	var nr *Referral
	var refusal error
	err = s.store.Update(ctx, func(tx Tx) error {
		orig, err := tx.Referral(ctx, origID, true)
		if err != nil {
			return err
		}
		if err := s.authorize(actor, orig, SideReceiver); err != nil {
			return err
		}
		switch orig.Status {
		case StatusReceived, StatusAccepted, StatusOnHold, StatusInProgress, StatusCompleted:
		default:
			return &TransitionError{Machine: "referral", From: string(orig.Status), To: "reversed",
				Rule: "only a referral the receiver has received is referred back or onward"}
		}
		receiverEntry, err := tx.Entry(ctx, orig.ReceiverID)
		if err != nil {
			return fmt.Errorf("receiver %s: %w", orig.ReceiverID, err)
		}
		req := Requester{OrgID: orig.ReceiverOrgID, Name: receiverEntry.Name, NPI: receiverEntry.NPI, Phone: in.Phone}
		if orig.ReceiverID != orig.ReceiverOrgID {
			req.PractitionerID = orig.ReceiverID
		}
		to := in.ReceiverID
		if to == "" {
			to = orig.Requester.OrgID
			if orig.Requester.PractitionerID != "" {
				if _, err := tx.Entry(ctx, orig.Requester.PractitionerID); err == nil {
					to = orig.Requester.PractitionerID
				} else if !errors.Is(err, ErrNotFound) {
					return err
				}
			}
		}
		consent := ConsentRef{Kind: orig.Consent.Kind, Purpose: orig.Consent.Purpose, Citation: orig.Consent.Citation, ConsentID: in.ConsentID}
		inherited := inheritsConsent(orig)
		if inherited {
			consent.ConsentID = ""
		}
		n := NewReferral{Requester: req, ReceiverID: to, Patient: orig.Patient, Reason: in.Reason, ReasonText: in.ReasonText,
			Priority: in.Priority, Consent: consent, Sensitive: orig.Sensitive, Records: in.Records, Submit: in.Submit, BasedOn: orig.ID}
		if n.Reason.Code == "" {
			n.Reason = orig.Reason
		}
		if err := n.Validate(); err != nil {
			return err
		}
		if nr, refusal, err = s.createTx(ctx, tx, actor, n); err != nil {
			return err
		}
		orig.FollowUps = append(orig.FollowUps, nr.ID)
		orig.Version++
		orig.Updated = s.clock.Now()
		if err := tx.UpdateReferral(ctx, orig); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, orig, "referral.followed-up", audit.OutcomeSuccess, map[string]string{
			"followUp": nr.ID, "receiver": to, "consentInherited": strconv.FormatBool(inherited)})
	})
	if err != nil {
		return nil, fmt.Errorf("refer back or onward from %s: %w", origID, err)
	}
	return nr, refusal
}
