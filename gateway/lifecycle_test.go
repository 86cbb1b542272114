package gateway_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// allStatuses is the ten lifecycle states, spelled out here rather than read
// from gateway.Statuses so that a state dropped from the core's list shows up.
var allStatuses = []gateway.Status{
	gateway.StatusDraft, gateway.StatusRequested, gateway.StatusReceived, gateway.StatusAccepted,
	gateway.StatusRejected, gateway.StatusOnHold, gateway.StatusInProgress, gateway.StatusCompleted,
	gateway.StatusCancelled, gateway.StatusFailed,
}

var allSides = []gateway.Side{gateway.SideReferrer, gateway.SideReceiver, gateway.SideSystem}

type statusPair struct{ from, to gateway.Status }

// wantLifecycle is the legal move set written from the words of DOMAIN.md:
//
//	draft → requested → received → accepted | rejected | on-hold
//	accepted → in-progress → completed (outcome documented)
//	cancelled by the referrer from any open state
//	failed when no channel could deliver
//	on-hold: the referrer's answer moves it back
//	the receiver accepts, rejects, asks for information, starts and completes
//
// Rejected, completed, cancelled and failed are terminal: a rejected referral
// is re-routed by a new referral that replaces it, never reopened.
func wantLifecycle() map[statusPair][]gateway.Side {
	var (
		referrer = gateway.SideReferrer
		receiver = gateway.SideReceiver
		system   = gateway.SideSystem
	)
	want := map[statusPair][]gateway.Side{
		// The referrer submits the draft. DOMAIN.md does not say who
		// submits; the gateway may submit on the referrer's behalf too.
		{gateway.StatusDraft, gateway.StatusRequested}: {referrer, system},
		// Received is a delivery receipt (gateway) or the receiver's own
		// FHIR Task status change.
		{gateway.StatusRequested, gateway.StatusReceived}: {receiver, system},
		// Only the gateway knows that no channel could deliver.
		{gateway.StatusRequested, gateway.StatusFailed}:     {system},
		{gateway.StatusReceived, gateway.StatusAccepted}:    {receiver},
		{gateway.StatusReceived, gateway.StatusRejected}:    {receiver},
		{gateway.StatusReceived, gateway.StatusOnHold}:      {receiver},
		{gateway.StatusOnHold, gateway.StatusReceived}:      {referrer},
		{gateway.StatusAccepted, gateway.StatusInProgress}:  {receiver},
		{gateway.StatusInProgress, gateway.StatusCompleted}: {receiver},
	}
	for _, open := range []gateway.Status{gateway.StatusDraft, gateway.StatusRequested, gateway.StatusReceived,
		gateway.StatusAccepted, gateway.StatusOnHold, gateway.StatusInProgress} {
		want[statusPair{open, gateway.StatusCancelled}] = []gateway.Side{referrer}
	}
	return want
}

func TestCheckTransitionEveryPair(t *testing.T) {
	want := wantLifecycle()
	legalCount := 0
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			for _, side := range allSides {
				allowed := want[statusPair{from, to}]
				legal := false
				for _, s := range allowed {
					legal = legal || s == side
				}
				name := fmt.Sprintf("%s→%s/%s", from, to, side)
				t.Run(name, func(t *testing.T) {
					err := gateway.CheckTransition(from, to, side)
					if legal {
						legalCount++
						if err != nil {
							t.Fatalf("CheckTransition(%s, %s, %s) = %v, want nil", from, to, side, err)
						}
						return
					}
					te := requireTransitionError(t, err, "referral", string(from), string(to))
					switch {
					case from == to:
						if !strings.Contains(te.Rule, "already") {
							t.Errorf("Rule %q does not say the referral is already %s", te.Rule, to)
						}
					case len(allowed) > 0:
						// The move exists for another side: the rule names who may make it.
						for _, s := range allowed {
							if !strings.Contains(te.Rule, string(s)) {
								t.Errorf("Rule %q does not name the side %q that may make this move", te.Rule, s)
							}
						}
						if strings.Contains(te.Rule, string(side)) {
							t.Errorf("Rule %q names the refused side %q as allowed", te.Rule, side)
						}
					default:
						if !strings.Contains(te.Rule, string(to)) {
							t.Errorf("Rule %q does not name the target state %s", te.Rule, to)
						}
					}
				})
			}
		}
	}
	// 9 one-side-or-two moves plus 6 cancellations: 2+2+1+1+1+1+1+1+1+6 = 17.
	if legalCount != 17 {
		t.Errorf("%d legal (from, to, side) triples accepted, want 17", legalCount)
	}
}

func TestCheckTransitionUnknownStatus(t *testing.T) {
	tests := []struct {
		name     string
		from, to gateway.Status
	}{
		{"unknown target", gateway.StatusReceived, "approved"},
		{"empty target", gateway.StatusDraft, ""},
		{"unknown source", "approved", gateway.StatusAccepted},
		{"empty source", "", gateway.StatusRequested},
		{"FHIR ready is not a referral state", gateway.StatusDraft, "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, side := range allSides {
				err := gateway.CheckTransition(tt.from, tt.to, side)
				requireTransitionError(t, err, "referral", string(tt.from), string(tt.to))
			}
		})
	}
}

func TestStatusesAndValidStatus(t *testing.T) {
	if len(gateway.Statuses) != len(allStatuses) {
		t.Fatalf("gateway.Statuses has %d states, want %d", len(gateway.Statuses), len(allStatuses))
	}
	for _, s := range allStatuses {
		if !gateway.ValidStatus(s) {
			t.Errorf("ValidStatus(%q) = false", s)
		}
	}
	for _, s := range []gateway.Status{"", "Draft", "ready", "entered-in-error", "onhold"} {
		if gateway.ValidStatus(s) {
			t.Errorf("ValidStatus(%q) = true", s)
		}
	}
}

func TestReferralOpen(t *testing.T) {
	tests := []struct {
		status gateway.Status
		open   bool
	}{
		{gateway.StatusDraft, true},
		{gateway.StatusRequested, true},
		{gateway.StatusReceived, true},
		{gateway.StatusAccepted, true},
		{gateway.StatusOnHold, true},
		{gateway.StatusInProgress, true},
		{gateway.StatusRejected, false},
		{gateway.StatusCompleted, false},
		{gateway.StatusCancelled, false},
		{gateway.StatusFailed, false},
		{"", false},
		{"unknown", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			r := &gateway.Referral{Status: tt.status}
			if got := r.Open(); got != tt.open {
				t.Errorf("Open() for %q = %v, want %v", tt.status, got, tt.open)
			}
			// Open means exactly "the referrer may cancel it".
			if !gateway.ValidStatus(tt.status) {
				return
			}
			canCancel := gateway.CheckTransition(tt.status, gateway.StatusCancelled, gateway.SideReferrer) == nil
			if canCancel != tt.open {
				t.Errorf("referrer may cancel a %s referral: %v, but Open() = %v", tt.status, canCancel, tt.open)
			}
		})
	}
}

// requireTransitionError asserts that err is a *TransitionError for machine
// and from → to with a rule in words, and returns it.
func requireTransitionError(t *testing.T, err error, machine, from, to string) *gateway.TransitionError {
	t.Helper()
	if err == nil {
		t.Fatalf("%s transition %q → %q accepted, want refusal", machine, from, to)
	}
	var te *gateway.TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *TransitionError", err, err)
	}
	if te.Machine != machine || te.From != from || te.To != to {
		t.Errorf("TransitionError{Machine: %q, From: %q, To: %q}, want %q, %q, %q", te.Machine, te.From, te.To, machine, from, to)
	}
	if strings.TrimSpace(te.Rule) == "" {
		t.Errorf("TransitionError %q → %q has an empty Rule", from, to)
	}
	if !strings.Contains(err.Error(), te.Rule) {
		t.Errorf("Error() %q does not carry the rule %q", err.Error(), te.Rule)
	}
	return te
}
