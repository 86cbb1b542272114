package push

import (
	"context"
	"errors"
	"testing"

	"github.com/referralgw/gateway/gateway"
	egress "github.com/referralgw/gateway/gateway/outbound"
)

func TestPushToPrivateAddressRefusedUnlessEntryAllows(t *testing.T) {
	rc := newReceiver(t)
	// The production client: no test client, no development allowance.
	ch := New(Config{Key: rc.gwKey, KeyID: "gw-1", AllowHTTP: true})
	to := rc.entry()
	_, err := ch.Send(context.Background(), outbound(to, "dlv-ssrf"))
	if !errors.Is(err, egress.ErrNotPublic) || !gateway.IsPermanent(err) {
		t.Fatalf("push to a loopback receiver: %v, want a permanent ErrNotPublic", err)
	}
	if rc.taskCount() != 0 {
		t.Fatalf("the refused push reached the receiver")
	}
	to.FHIR.PrivateNetwork = true
	if _, err := ch.Send(context.Background(), outbound(to, "dlv-ssrf")); err != nil {
		t.Fatalf("push to an entry marked as on a private network: %v", err)
	}
	if rc.taskCount() != 1 {
		t.Fatalf("receiver holds %d Tasks, want 1", rc.taskCount())
	}
}
