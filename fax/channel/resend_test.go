package channel_test

import (
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/faxsim"
)

// TestResendAsksTheVendorFirst runs against an emulator that, like
// Phaxio, faxes every submission (no idempotency key). A delivery's second
// attempt (a resend after a crash between the vendor's acceptance and our
// recording of it) finds the first fax by its tag and does not fax again;
// a first attempt never looks; a resend whose earlier fax failed faxes
// again.
func TestResendAsksTheVendorFirst(t *testing.T) {
	sim, ch := emulator(t, faxsim.Config{TransmitDuplicates: true, Behaviors: map[string]faxsim.Behavior{"+15555550124": faxsim.Fail}})
	out := outbound(t, "del-0001", false, false)
	out.Delivery.Attempts = 1
	first, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	out.Delivery.Attempts = 2
	again, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	if again.RemoteID != first.RemoteID || len(sim.Received()) != 1 {
		t.Fatalf("resend: fax %s (first %s), %d faxes at the vendor; want the first fax only", again.RemoteID, first.RemoteID, len(sim.Received()))
	}

	// A resend with nothing at the vendor sends.
	fresh := outbound(t, "del-0002", false, false)
	fresh.Delivery.Attempts = 3
	if _, err := ch.Send(t.Context(), fresh); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Received()); n != 2 {
		t.Fatalf("%d faxes after a resend with no earlier fax, want 2", n)
	}

	// A resend whose earlier fax failed sends again.
	failing := outbound(t, "del-0003", false, false)
	failing.Receiver = receiver("+15555550124")
	failing.Delivery.Attempts = 1
	bad, err := ch.Send(t.Context(), failing)
	if err != nil {
		t.Fatal(err)
	}
	waitFailed(t, sim, bad.RemoteID)
	failing.Delivery.Attempts = 2
	retry, err := ch.Send(t.Context(), failing)
	if err != nil {
		t.Fatal(err)
	}
	if retry.RemoteID == bad.RemoteID || len(sim.Received()) != 4 {
		t.Fatalf("resend after a failed fax: fax %s (failed %s), %d faxes; want a new fax", retry.RemoteID, bad.RemoteID, len(sim.Received()))
	}
}

// waitFailed polls the emulator until the fax has failed.
func waitFailed(t *testing.T, sim *faxsim.Server, id string) {
	t.Helper()
	waitUntil(t, func() bool {
		f, ok := sim.Fax(mustID(t, id))
		return ok && f.Status == "failure"
	})
}

// waitUntil polls cond until it holds, failing the test after a deadline.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
