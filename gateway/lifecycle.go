package gateway

import "fmt"

// Side is who may drive a transition: the referring practice, the receiving
// party, or the gateway itself (routing, receipts, timeouts).
type Side string

// The sides of a referral.
const (
	SideReferrer Side = "referrer"
	SideReceiver Side = "receiver"
	SideSystem   Side = "system"
)

// move is one legal lifecycle transition and who may make it.
type move struct {
	from, to Status
	by       []Side
}

// lifecycle is the referral state machine of DOMAIN.md: draft → requested →
// received → accepted | rejected | on-hold; accepted → in-progress →
// completed; cancelled by the referrer from any open state; failed when no
// channel could deliver.
var lifecycle = []move{
	{StatusDraft, StatusRequested, []Side{SideReferrer, SideSystem}},
	{StatusRequested, StatusReceived, []Side{SideSystem, SideReceiver}},
	{StatusRequested, StatusFailed, []Side{SideSystem}},
	{StatusReceived, StatusAccepted, []Side{SideReceiver}},
	{StatusReceived, StatusRejected, []Side{SideReceiver}},
	{StatusReceived, StatusOnHold, []Side{SideReceiver}},
	{StatusOnHold, StatusReceived, []Side{SideReferrer}}, // the referrer's answer moves it back
	{StatusAccepted, StatusInProgress, []Side{SideReceiver}},
	{StatusInProgress, StatusCompleted, []Side{SideReceiver}},
	{StatusDraft, StatusCancelled, []Side{SideReferrer}},
	{StatusRequested, StatusCancelled, []Side{SideReferrer}},
	{StatusReceived, StatusCancelled, []Side{SideReferrer}},
	{StatusAccepted, StatusCancelled, []Side{SideReferrer}},
	{StatusOnHold, StatusCancelled, []Side{SideReferrer}},
	{StatusInProgress, StatusCancelled, []Side{SideReferrer}},
}

// Statuses lists every lifecycle state.
var Statuses = []Status{StatusDraft, StatusRequested, StatusReceived, StatusAccepted, StatusRejected,
	StatusOnHold, StatusInProgress, StatusCompleted, StatusCancelled, StatusFailed}

// ValidStatus reports whether s is a lifecycle state.
func ValidStatus(s Status) bool {
	for _, v := range Statuses {
		if v == s {
			return true
		}
	}
	return false
}

// CheckTransition returns nil when side may move a referral from → to, and a
// *TransitionError naming the rule otherwise.
func CheckTransition(from, to Status, side Side) error {
	if !ValidStatus(to) {
		return &TransitionError{Machine: "referral", From: string(from), To: string(to), Rule: "unknown status"}
	}
	if from == to {
		return &TransitionError{Machine: "referral", From: string(from), To: string(to), Rule: "the referral is already " + string(to)}
	}
	var allowedFrom []Status
	for _, m := range lifecycle {
		if m.to != to {
			continue
		}
		allowedFrom = append(allowedFrom, m.from)
		if m.from != from {
			continue
		}
		for _, s := range m.by {
			if s == side {
				return nil
			}
		}
		return &TransitionError{Machine: "referral", From: string(from), To: string(to),
			Rule: fmt.Sprintf("only the %s may move a referral to %s", sidesText(m.by), to)}
	}
	if len(allowedFrom) == 0 {
		return &TransitionError{Machine: "referral", From: string(from), To: string(to),
			Rule: fmt.Sprintf("%s is not entered by a transition (a new referral that replaces this one is created instead)", to)}
	}
	return &TransitionError{Machine: "referral", From: string(from), To: string(to),
		Rule: fmt.Sprintf("%s is reached only from %v", to, allowedFrom)}
}

func sidesText(sides []Side) string {
	if len(sides) == 1 {
		return string(sides[0])
	}
	s := ""
	for i, v := range sides {
		if i > 0 {
			s += " or "
		}
		s += string(v)
	}
	return s
}
