package audit

import (
	"errors"
	"fmt"
	"time"
)

// Outcomes of an audited event, as stored in Event.Outcome and Entry.Outcome.
const (
	OutcomeSuccess = "success" // the action completed
	OutcomeFailure = "failure" // the action was attempted and failed (serious failure in FHIR terms)
	OutcomeRefused = "refused" // a rule refused the action before it ran (consent, BAA gate, illegal transition)
)

// Event is what the core records; the store turns it into one Entry per tenant.
type Event struct {
	Time       time.Time
	Actor      string            // "user:alice", "client:ehr-7", "system"
	Tenants    []string          // practices whose trails get the event (1 or 2; duplicates removed by the caller)
	ReferralID string            // optional
	Action     string            // e.g. "referral.created", "consent.checked", "delivery.sent", "baa.transition", "auth.login"
	Outcome    string            // OutcomeSuccess | OutcomeFailure | OutcomeRefused
	Detail     map[string]string // metadata only (ids, codes, reasons); never PHI
}

// Validate reports every reason ev cannot be recorded: a missing time,
// actor or action, an unknown outcome, or no, empty or duplicated tenants.
func (ev Event) Validate() error {
	var errs []error
	if ev.Time.IsZero() {
		errs = append(errs, errors.New("time is zero"))
	}
	if ev.Actor == "" {
		errs = append(errs, errors.New("actor is empty"))
	}
	if ev.Action == "" {
		errs = append(errs, errors.New("action is empty"))
	}
	switch ev.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeRefused:
	default:
		errs = append(errs, fmt.Errorf("unknown outcome %q", ev.Outcome))
	}
	if len(ev.Tenants) == 0 {
		errs = append(errs, errors.New("no tenant"))
	}
	seen := make(map[string]bool, len(ev.Tenants))
	for _, t := range ev.Tenants {
		switch {
		case t == "":
			errs = append(errs, errors.New("empty tenant"))
		case seen[t]:
			errs = append(errs, fmt.Errorf("tenant %q listed twice", t))
		}
		seen[t] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: validate event %q: %w", ev.Action, err)
	}
	return nil
}
