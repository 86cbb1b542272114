package subscription

import (
	"net/http"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/outbound"
)

// Config tunes subscriptions. The zero value works for production: https
// endpoints on public addresses, 5 attempts.
type Config struct {
	// AllowHTTP accepts http:// endpoints (tests and development only).
	AllowHTTP bool
	// AllowPrivateNetworks lets the default HTTP client connect to
	// loopback, private and link-local addresses (tests and development
	// only); by default an endpoint resolving to one fails, so a client
	// cannot point the gateway at its internal network.
	AllowPrivateNetworks bool
	// Interval is added to a lease's length (two timeouts) as slack; default 5 s.
	Interval time.Duration
	// MaxFailures is how many consecutive failed attempts put a
	// subscription in status error; default 5.
	MaxFailures int
	// Backoff is the wait after the first failure, doubled after each
	// further one up to MaxBackoff; defaults 30 s and 30 min.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one POST; default 10 s.
	Timeout time.Duration
	// Batch bounds the notifications one subscription gets per poll;
	// default 100.
	Batch int
	// Overlap is how far before the cursor each poll looks again, for
	// changes that committed late; default 30 s. Versions already sent are
	// remembered for this long, so none is sent twice.
	Overlap time.Duration
	// MaxPerOrg bounds the subscriptions of one organisation; default 20.
	MaxPerOrg int
	// Parallel bounds the endpoints notified at once; default 4.
	Parallel int
	// HTTPClient posts notifications; default a client with Timeout, no
	// redirects, TLS 1.2+ and the private-network guard.
	HTTPClient *http.Client
	// Clock tells the time; default the core's clock.
	Clock func() time.Time
}

func (c *Config) fill(svc *gateway.Service) {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.Backoff <= 0 {
		c.Backoff = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Overlap <= 0 {
		c.Overlap = 30 * time.Second
	}
	if c.MaxPerOrg <= 0 {
		c.MaxPerOrg = 20
	}
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	if c.Clock == nil {
		c.Clock = svc.Clock().Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = defaultClient(c.Timeout, c.AllowPrivateNetworks)
	}
}

// backoff is the wait after the n-th consecutive failure.
func (c *Config) backoff(n int) time.Duration {
	d := c.Backoff
	for i := 1; i < n && d < c.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, c.MaxBackoff)
}

func defaultClient(timeout time.Duration, allowPrivate bool) *http.Client {
	return outbound.NewClient(outbound.Config{Timeout: timeout, DialTimeout: timeout, TLSHandshakeTimeout: timeout,
		AllowPrivate: allowPrivate, NoRedirects: true})
}
