package callback

import (
	"strconv"
	"time"

	"github.com/referralgw/gateway/internal/allowance"
	"golang.org/x/time/rate"
)

// Defaults of the failure limit (Config.FailuresPerMinute, FailureBurst).
const (
	DefaultFailuresPerMinute = 30
	DefaultFailureBurst      = 20
	// failureKeysMax bounds the addresses remembered (see allowance.Limit).
	failureKeysMax = 10_000
)

// newFailureLimit counts callbacks that failed verification per client
// address (per /64 for IPv6, see peer.Key). An address out of allowance is
// answered 429 before its body is read, its signature computed or anything
// is written; the vendor, whose callbacks verify, never spends any.
func newFailureLimit(perMinute, burst int) *allowance.Limit {
	return allowance.New(rate.Limit(float64(perMinute)/60), burst, failureKeysMax)
}

// retryAfter formats a wait as whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
