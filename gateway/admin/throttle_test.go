package admin

import (
	"strconv"
	"testing"
	"time"
)

// TestThrottleCountsIPv6ByPrefix: the failures of one IPv6 address slow
// every address of its /64, as they would one IPv4 address, while another
// /64 is not held back by them.
func TestThrottleCountsIPv6ByPrefix(t *testing.T) {
	th := newLoginThrottle()
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	// Failures on as many accounts as it takes to use up the address's
	// allowance (one account's own allowance is smaller).
	for i := range freeFailuresPerAddr + 1 {
		th.failed("user"+strconv.Itoa(i), "2001:db8:1:2::1", now)
	}
	if wait, limit := th.admit("ada", "2001:db8:1:2::1", now); wait == 0 || limit != "address" {
		t.Fatalf("the failing address itself: wait %v, limit %q; want an address delay", wait, limit)
	}
	if wait, limit := th.admit("bob", "2001:db8:1:2:ffff:ffff:ffff:fffe", now); wait == 0 || limit != "address" {
		t.Fatalf("another address of the same /64: wait %v, limit %q; want the same address delay", wait, limit)
	}
	if wait, _ := th.admit("bob", "2001:db8:1:3::1", now); wait != 0 {
		t.Fatalf("an address of another /64 waits %v", wait)
	}
}
