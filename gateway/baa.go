package gateway

import (
	"fmt"
	"time"
)

// BAAState is the state of a Business Associate Agreement.
type BAAState string

// The six BAA states of DOMAIN.md. Expiring and expired are derived from the
// end date; the other four are stored.
const (
	BAADraft      BAAState = "draft"
	BAASent       BAAState = "sent" // awaiting countersignature
	BAAActive     BAAState = "active"
	BAAExpiring   BAAState = "expiring" // active, end date within the warning window
	BAAExpired    BAAState = "expired"
	BAATerminated BAAState = "terminated"
)

// BAAStates lists the six states.
var BAAStates = []BAAState{BAADraft, BAASent, BAAActive, BAAExpiring, BAAExpired, BAATerminated}

// DefaultBAAWarningWindow is how long before its end date an active BAA is
// reported as expiring.
const DefaultBAAWarningWindow = 60 * 24 * time.Hour

// BAA is a Business Associate Agreement with a receiving party or a vendor
// (fax vendor, HISP) through which PHI flows.
type BAA struct {
	ID       string    `json:"id"`
	PartyID  string    `json:"partyId"` // directory entry id of the counterparty
	State    BAAState  `json:"state"`   // stored state: draft, sent, active or terminated
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
	Document string    `json:"document,omitempty"` // reference to the signed agreement
	Updated  time.Time `json:"updated"`
	Version  int       `json:"version"`
}

// Effective derives the state in force at now: an active BAA past its end
// date is expired, and within window of it is expiring.
func (b *BAA) Effective(now time.Time, window time.Duration) BAAState {
	if b == nil {
		return ""
	}
	if b.State != BAAActive {
		return b.State
	}
	if !b.End.IsZero() {
		if !now.Before(b.End) {
			return BAAExpired
		}
		if b.End.Sub(now) <= window {
			return BAAExpiring
		}
	}
	return BAAActive
}

// PermitsPHI reports whether PHI may flow under a BAA in state s.
func (s BAAState) PermitsPHI() bool { return s == BAAActive || s == BAAExpiring }

// CheckBAATransition validates moving a BAA whose state in force is from to
// the stored state to. Renewing (active, expiring or expired → active) needs
// a new end date, which the caller checks.
func CheckBAATransition(from, to BAAState) error {
	legal := map[BAAState][]BAAState{
		"":          {BAADraft, BAASent, BAAActive},
		BAADraft:    {BAASent, BAAActive, BAATerminated},
		BAASent:     {BAAActive, BAADraft, BAATerminated},
		BAAActive:   {BAAActive, BAATerminated},
		BAAExpiring: {BAAActive, BAATerminated},
		BAAExpired:  {BAAActive, BAATerminated},
	}
	if to == BAAExpiring || to == BAAExpired {
		return &TransitionError{Machine: "baa", From: string(from), To: string(to),
			Rule: "expiring and expired follow from the end date; set the end date instead"}
	}
	for _, s := range legal[from] {
		if s == to {
			return nil
		}
	}
	article := "a"
	if from == BAAActive || from == BAAExpiring || from == BAAExpired {
		article = "an"
	}
	rule := fmt.Sprintf("%s %s BAA cannot become %s", article, from, to)
	if from == "" {
		rule = fmt.Sprintf("a new BAA starts as draft, sent or active, not %s", to)
	}
	if from == BAATerminated {
		rule = "a terminated BAA is final; record a new agreement"
	}
	return &TransitionError{Machine: "baa", From: string(from), To: string(to), Rule: rule}
}
