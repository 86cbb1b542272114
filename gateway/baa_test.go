package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

func TestBAAEffective(t *testing.T) {
	end := time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)
	const window = 60 * 24 * time.Hour
	tests := []struct {
		name   string
		baa    *gateway.BAA
		now    time.Time
		window time.Duration
		want   gateway.BAAState
	}{
		{"no BAA on file", nil, end, window, ""},
		{"active without end date", &gateway.BAA{State: gateway.BAAActive}, end, window, gateway.BAAActive},
		{"active well before the window", &gateway.BAA{State: gateway.BAAActive, End: end}, end.Add(-window - 24*time.Hour), window, gateway.BAAActive},
		{"active one instant before the window", &gateway.BAA{State: gateway.BAAActive, End: end}, end.Add(-window - time.Nanosecond), window, gateway.BAAActive},
		{"end minus now equals the window", &gateway.BAA{State: gateway.BAAActive, End: end}, end.Add(-window), window, gateway.BAAExpiring},
		{"inside the window", &gateway.BAA{State: gateway.BAAActive, End: end}, end.Add(-24 * time.Hour), window, gateway.BAAExpiring},
		{"one instant before the end", &gateway.BAA{State: gateway.BAAActive, End: end}, end.Add(-time.Nanosecond), window, gateway.BAAExpiring},
		{"exactly at the end", &gateway.BAA{State: gateway.BAAActive, End: end}, end, window, gateway.BAAExpired},
		{"after the end", &gateway.BAA{State: gateway.BAAActive, End: end}, end.AddDate(1, 0, 0), window, gateway.BAAExpired},
		{"zero window never warns", &gateway.BAA{State: gateway.BAAActive, End: end}, end.Add(-time.Nanosecond), 0, gateway.BAAActive},
		{"the default window", &gateway.BAA{State: gateway.BAAActive, End: end}, end.Add(-gateway.DefaultBAAWarningWindow), gateway.DefaultBAAWarningWindow, gateway.BAAExpiring},
		{"end date in another zone", &gateway.BAA{State: gateway.BAAActive, End: end}, end.In(time.FixedZone("EST", -5*3600)), window, gateway.BAAExpired},
		// Only an active agreement derives expiring or expired from its end date.
		{"draft past its end date", &gateway.BAA{State: gateway.BAADraft, End: end}, end.AddDate(0, 1, 0), window, gateway.BAADraft},
		{"sent inside the window", &gateway.BAA{State: gateway.BAASent, End: end}, end.Add(-24 * time.Hour), window, gateway.BAASent},
		{"terminated before its end date", &gateway.BAA{State: gateway.BAATerminated, End: end}, end.AddDate(0, -6, 0), window, gateway.BAATerminated},
		{"terminated after its end date", &gateway.BAA{State: gateway.BAATerminated, End: end}, end.AddDate(0, 6, 0), window, gateway.BAATerminated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.baa.Effective(tt.now, tt.window); got != tt.want {
				t.Errorf("Effective(%s, %s) = %q, want %q", tt.now.Format(time.RFC3339Nano), tt.window, got, tt.want)
			}
		})
	}
}

func TestBAAStatePermitsPHI(t *testing.T) {
	tests := []struct {
		state gateway.BAAState
		want  bool
	}{
		{gateway.BAADraft, false},
		{gateway.BAASent, false},
		{gateway.BAAActive, true},
		{gateway.BAAExpiring, true},
		{gateway.BAAExpired, false},
		{gateway.BAATerminated, false},
		{"", false}, // no BAA on file
		{"ACTIVE", false},
	}
	for _, tt := range tests {
		if got := tt.state.PermitsPHI(); got != tt.want {
			t.Errorf("BAAState(%q).PermitsPHI() = %v, want %v", tt.state, got, tt.want)
		}
	}
	if n := len(gateway.BAAStates); n != 6 {
		t.Errorf("len(BAAStates) = %d, want the six states of DOMAIN.md", n)
	}
}

func TestCheckBAATransitionEveryPair(t *testing.T) {
	from := []gateway.BAAState{"", gateway.BAADraft, gateway.BAASent, gateway.BAAActive,
		gateway.BAAExpiring, gateway.BAAExpired, gateway.BAATerminated}
	to := from[1:]
	type pair struct{ from, to gateway.BAAState }
	// DOMAIN.md: draft → sent (awaiting countersignature) → active → expiring
	// → expired, terminated from any state. Expiring and expired follow from
	// the end date and are never stored. A BAA is recorded for the first
	// time as draft, sent, or active (a paper agreement already signed);
	// renewing (active, expiring or expired → active) stores active again
	// with a new end date. Two moves beyond the DOMAIN.md chain are the
	// core's policy: draft → active (both signatures at once) and sent →
	// draft (withdrawn for changes). Terminated is final.
	legal := map[pair]bool{
		{"", gateway.BAADraft}:                       true,
		{"", gateway.BAASent}:                        true,
		{"", gateway.BAAActive}:                      true,
		{gateway.BAADraft, gateway.BAASent}:          true,
		{gateway.BAADraft, gateway.BAAActive}:        true,
		{gateway.BAADraft, gateway.BAATerminated}:    true,
		{gateway.BAASent, gateway.BAAActive}:         true,
		{gateway.BAASent, gateway.BAADraft}:          true,
		{gateway.BAASent, gateway.BAATerminated}:     true,
		{gateway.BAAActive, gateway.BAAActive}:       true,
		{gateway.BAAActive, gateway.BAATerminated}:   true,
		{gateway.BAAExpiring, gateway.BAAActive}:     true,
		{gateway.BAAExpiring, gateway.BAATerminated}: true,
		{gateway.BAAExpired, gateway.BAAActive}:      true,
		{gateway.BAAExpired, gateway.BAATerminated}:  true,
	}
	for _, f := range from {
		for _, tgt := range to {
			t.Run(fmt.Sprintf("%q→%s", f, tgt), func(t *testing.T) {
				err := gateway.CheckBAATransition(f, tgt)
				if legal[pair{f, tgt}] {
					if err != nil {
						t.Fatalf("CheckBAATransition(%q, %q) = %v, want nil", f, tgt, err)
					}
					return
				}
				te := requireTransitionError(t, err, "baa", string(f), string(tgt))
				switch {
				case tgt == gateway.BAAExpiring || tgt == gateway.BAAExpired:
					if !strings.Contains(te.Rule, "end date") {
						t.Errorf("Rule %q does not point at the end date", te.Rule)
					}
				case f == gateway.BAATerminated:
					if !strings.Contains(te.Rule, "final") {
						t.Errorf("Rule %q does not say a terminated BAA is final", te.Rule)
					}
				default:
					if !strings.Contains(te.Rule, string(tgt)) {
						t.Errorf("Rule %q does not name the target state %s", te.Rule, tgt)
					}
				}
			})
		}
	}
}

func TestCheckBAATransitionUnknownState(t *testing.T) {
	tests := []struct{ from, to gateway.BAAState }{
		{gateway.BAADraft, ""},
		{gateway.BAAActive, "suspended"},
		{"suspended", gateway.BAAActive},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q→%q", tt.from, tt.to), func(t *testing.T) {
			requireTransitionError(t, gateway.CheckBAATransition(tt.from, tt.to), "baa", string(tt.from), string(tt.to))
		})
	}
}

func TestBAAError(t *testing.T) {
	tests := []struct {
		err  *gateway.BAAError
		want []string
	}{
		{&gateway.BAAError{PartyID: "vendor-fax", Role: "fax vendor"}, []string{"no Business Associate Agreement", "fax vendor", "vendor-fax"}},
		{&gateway.BAAError{PartyID: "org-beta", Role: "receiver", State: gateway.BAAExpired}, []string{"org-beta", "receiver", "expired"}},
	}
	for _, tt := range tests {
		msg := tt.err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("BAAError.Error() = %q, want it to contain %q", msg, w)
			}
		}
	}
}
