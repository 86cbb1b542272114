package admin

import (
	"sync"
	"time"

	"github.com/referralgw/gateway/internal/peer"
	"golang.org/x/time/rate"
)

// Sign-in throttling (OWASP ASVS 5.0 V6.3). Failures slow down the one who
// fails, never the account's owner: delays grow per client address and per
// account from that address, and the only limit that counts all addresses
// of an account spares the addresses the account has signed in from before.
// A stranger who knows a name can therefore slow themselves but not lock
// the real user out, while brute force from one address gets exponentially
// slower. State is per process and forgets an address an hour after its
// last failure.
const (
	freeFailuresPerAddr    = 10               // failures from one address, any account, before delays start
	freeFailuresPerAccount = 5                // failures on one account from one address before delays start
	firstDelay             = time.Second      // the first delay; each further failure doubles it
	maxDelay               = 15 * time.Minute // delays stop growing here
	forgetAfter            = time.Hour        // a quiet address starts afresh
	knownFor               = 30 * 24 * time.Hour
	// Attempts on one account from addresses it has never signed in from,
	// all together: a burst, then one per accountEvery.
	accountBurst = 10
	accountEvery = 6 * time.Second
	// throttleKeysMax bounds each table; a full table drops its oldest
	// quiet entries first.
	throttleKeysMax = 100_000
)

// backoff is the failure record of one key.
type backoff struct {
	failures int
	until    time.Time // no attempt before this
	last     time.Time // the last failure
}

// delayAfter is the wait after failures, given the free allowance.
func delayAfter(failures, free int) time.Duration {
	over := failures - free
	if over <= 0 {
		return 0
	}
	if over > 20 {
		return maxDelay
	}
	return min(firstDelay<<(over-1), maxDelay)
}

type pairKey struct{ account, addr string }

// loginThrottle decides whether a sign-in attempt may go ahead.
type loginThrottle struct {
	mu       sync.Mutex
	addrs    map[string]*backoff
	pairs    map[pairKey]*backoff
	known    map[pairKey]time.Time    // successful sign-ins
	accounts map[string]*rate.Limiter // attempts from unknown addresses
}

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{addrs: map[string]*backoff{}, pairs: map[pairKey]*backoff{},
		known: map[pairKey]time.Time{}, accounts: map[string]*rate.Limiter{}}
}

// admit reports whether an attempt on account from addr may go ahead at
// now; if not, how long to wait and which limit refused ("address" or
// "account"). Here and below, an address counts as its peer.Key: an IPv6
// client as its /64.
func (t *loginThrottle) admit(account, addr string, now time.Time) (wait time.Duration, limit string) {
	addr = peer.Key(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.addrs[addr]; b != nil && now.Before(b.until) {
		return b.until.Sub(now), "address"
	}
	k := pairKey{account, addr}
	if b := t.pairs[k]; b != nil && now.Before(b.until) {
		return b.until.Sub(now), "address"
	}
	if seen, ok := t.known[k]; ok && now.Sub(seen) < knownFor {
		return 0, ""
	}
	l := t.accounts[account]
	if l == nil {
		if len(t.accounts) >= throttleKeysMax {
			clear(t.accounts) // every account starts with a full burst again
		}
		l = rate.NewLimiter(rate.Every(accountEvery), accountBurst)
		t.accounts[account] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, "account"
	}
	return 0, ""
}

// failed records a failed attempt.
func (t *loginThrottle) failed(account, addr string, now time.Time) {
	addr = peer.Key(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	bump(t.addrs, addr, freeFailuresPerAddr, now)
	bump(t.pairs, pairKey{account, addr}, freeFailuresPerAccount, now)
}

// succeeded clears the failures of account from addr and remembers the
// address as one the account signs in from.
func (t *loginThrottle) succeeded(account, addr string, now time.Time) {
	addr = peer.Key(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	k := pairKey{account, addr}
	delete(t.pairs, k)
	delete(t.addrs, addr)
	if len(t.known) >= throttleKeysMax {
		for pk, seen := range t.known {
			if now.Sub(seen) >= knownFor {
				delete(t.known, pk)
			}
		}
		if len(t.known) >= throttleKeysMax {
			clear(t.known)
		}
	}
	t.known[k] = now
}

func bump[K comparable](m map[K]*backoff, k K, free int, now time.Time) {
	b := m[k]
	if b != nil && now.Sub(b.last) >= forgetAfter {
		b = nil
	}
	if b == nil {
		if len(m) >= throttleKeysMax {
			prune(m, now)
		}
		b = &backoff{}
		m[k] = b
	}
	b.failures++
	b.last = now
	b.until = now.Add(delayAfter(b.failures, free))
}

// prune drops entries quiet for forgetAfter, or all that are not delaying
// anyone when that is not enough.
func prune[K comparable](m map[K]*backoff, now time.Time) {
	for k, b := range m {
		if now.Sub(b.last) >= forgetAfter {
			delete(m, k)
		}
	}
	if len(m) < throttleKeysMax {
		return
	}
	for k, b := range m {
		if !now.Before(b.until) {
			delete(m, k)
		}
	}
}
