package smart

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/referralgw/gateway/internal/allowance"
	"golang.org/x/time/rate"
)

// Throttling of the token endpoint. Anyone can post to it, and each request
// may cost a registry read and a signature verification. Two bounds, in the
// manner of the admin console's sign-in throttle:
//
//   - per client address, the failed requests (any refusal but a failure of
//     the server itself): a burst, then a steady refill. Successes never
//     spend any, so a client is slowed only by failures from its own address;
//   - all addresses together, the requests of addresses that have not been
//     granted a token in the last KnownPeerFor: a burst, then a steady rate.
//     An address once granted a token is spared, so a flood from many
//     addresses cannot keep out the clients that already use the endpoint.
//
// A request over either bound is answered 429 with Retry-After before its
// body is read. State lives in the process; several gateways each keep their
// own.
const (
	// DefaultFailuresPerMinute and DefaultFailureBurst bound the failed token
	// requests of one client address.
	DefaultFailuresPerMinute = 30
	DefaultFailureBurst      = 20
	// DefaultNewPeerRequestsPerSecond and DefaultNewPeerBurst bound the token
	// requests of all addresses not granted a token recently, together.
	DefaultNewPeerRequestsPerSecond = 10
	DefaultNewPeerBurst             = 100
	// KnownPeerFor is how long an address granted a token is spared the
	// bound on new addresses.
	KnownPeerFor = 30 * 24 * time.Hour
	// throttleKeysMax bounds each table of the throttle.
	throttleKeysMax = 100_000
)

// Which bound refused a request, for the reply and the audit hook.
const (
	throttledAddress = "too many failed token requests from this address; try again later"
	throttledNewPeer = "too many token requests from new addresses; try again later"
)

// tokenThrottle decides whether a token request may be heard.
type tokenThrottle struct {
	failures *allowance.Limit // per address, spent by failures

	mu       sync.Mutex
	known    map[string]time.Time // addresses granted a token, and when last
	newPeers *rate.Limiter        // requests of addresses not known, together
}

func newTokenThrottle(cfg TokenServerConfig) *tokenThrottle {
	return &tokenThrottle{
		failures: allowance.New(rate.Limit(float64(cfg.FailuresPerMinute)/60), cfg.FailureBurst, throttleKeysMax),
		known:    map[string]time.Time{},
		newPeers: rate.NewLimiter(rate.Limit(cfg.NewPeerRequestsPerSecond), cfg.NewPeerBurst),
	}
}

// admit reports whether a request from peer may be heard at now; if not, how
// long to wait and which bound refused it. A request from an address not
// known spends one of the new addresses' allowance here, whatever its outcome.
func (t *tokenThrottle) admit(peer string, now time.Time) (time.Duration, string) {
	if wait := t.failures.Wait(peer, now); wait > 0 {
		return wait, throttledAddress
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if seen, ok := t.known[peer]; ok && now.Sub(seen) < KnownPeerFor {
		return 0, ""
	}
	r := t.newPeers.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return max(d, time.Second), throttledNewPeer
	}
	return 0, ""
}

// failed spends one of peer's failure allowance.
func (t *tokenThrottle) failed(peer string, now time.Time) { t.failures.Spend(peer, now) }

// granted remembers peer as an address that obtained a token. Only a
// client holding a registered key gets here, so the table grows with the
// clients' addresses, not with an attacker's.
func (t *tokenThrottle) granted(peer string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.known[peer]; !ok && len(t.known) >= throttleKeysMax {
		for k, seen := range t.known {
			if now.Sub(seen) >= KnownPeerFor {
				delete(t.known, k)
			}
		}
		if len(t.known) >= throttleKeysMax {
			clear(t.known)
		}
	}
	t.known[peer] = now
}

// writeThrottled answers a throttled request: 429 with Retry-After in
// whole seconds and an RFC 6749 §5.2 error body. The code is
// invalid_client, since the client was not authenticated; the status and
// Retry-After (RFC 6585 §4) say it is a matter of time.
func writeThrottled(w http.ResponseWriter, wait time.Duration, description string) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	writeTokenError(w, &TokenError{Status: http.StatusTooManyRequests, Code: CodeInvalidClient, Description: description})
}
