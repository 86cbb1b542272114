package gateway_test

import (
	"fmt"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

func TestCheckDeliveryTransitionEveryPair(t *testing.T) {
	states := []gateway.DeliveryState{
		gateway.DeliveryQueued, gateway.DeliverySending, gateway.DeliverySent,
		gateway.DeliveryDelivered, gateway.DeliveryFailed,
	}
	type pair struct{ from, to gateway.DeliveryState }
	// DOMAIN.md: queued → sending → sent → delivered | failed. Any open state
	// may fail (a refused connection, a DSN, a timeout). CheckDeliveryTransition's
	// contract adds two moves: a temporary failure while sending goes back
	// to queued for a retry, sending → delivered for channels whose send
	// is itself the receipt (a FHIR push answered with the receiver's Task),
	// and queued → sent or delivered for a progress or final receipt that
	// arrives after a send whose answer was lost (the receiver has the
	// message; the retry is moot).
	// Delivered and failed are final: a fallback is a new delivery.
	legal := map[pair]bool{
		{gateway.DeliveryQueued, gateway.DeliverySending}:    true,
		{gateway.DeliveryQueued, gateway.DeliverySent}:       true,
		{gateway.DeliveryQueued, gateway.DeliveryFailed}:     true,
		{gateway.DeliveryQueued, gateway.DeliveryDelivered}:  true,
		{gateway.DeliverySending, gateway.DeliverySent}:      true,
		{gateway.DeliverySending, gateway.DeliveryQueued}:    true,
		{gateway.DeliverySending, gateway.DeliveryFailed}:    true,
		{gateway.DeliverySending, gateway.DeliveryDelivered}: true,
		{gateway.DeliverySent, gateway.DeliveryDelivered}:    true,
		{gateway.DeliverySent, gateway.DeliveryFailed}:       true,
	}
	for _, from := range states {
		for _, to := range states {
			t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
				err := gateway.CheckDeliveryTransition(from, to)
				if legal[pair{from, to}] {
					if err != nil {
						t.Fatalf("CheckDeliveryTransition(%s, %s) = %v, want nil", from, to, err)
					}
					return
				}
				requireTransitionError(t, err, "delivery", string(from), string(to))
			})
		}
	}
}

func TestCheckDeliveryTransitionUnknownState(t *testing.T) {
	tests := []struct{ from, to gateway.DeliveryState }{
		{"", gateway.DeliverySending},
		{gateway.DeliveryQueued, ""},
		{gateway.DeliverySent, "bounced"},
		{"bounced", gateway.DeliveryFailed},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q→%q", tt.from, tt.to), func(t *testing.T) {
			requireTransitionError(t, gateway.CheckDeliveryTransition(tt.from, tt.to), "delivery", string(tt.from), string(tt.to))
		})
	}
}

func TestValidChannel(t *testing.T) {
	tests := []struct {
		kind gateway.ChannelKind
		want bool
	}{
		{gateway.ChannelFHIR, true},
		{gateway.ChannelDirect, true},
		{gateway.ChannelFax, true},
		{"", false},
		{"email", false},
		{"FHIR", false},
	}
	for _, tt := range tests {
		if got := gateway.ValidChannel(tt.kind); got != tt.want {
			t.Errorf("ValidChannel(%q) = %v, want %v", tt.kind, got, tt.want)
		}
	}
}
