package inbound

import (
	"context"
	"time"

	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

// revocationOutage decides a message whose signer's CRL could not be
// obtained. An outage is not a verdict: until Config.RevocationRetryFor
// has passed since receipt the job is snoozed with a growing delay; then
// the configured policy decides (an operator's release counts as accept).
// An acceptance is flagged on the message and audited by the caller.
func (p *Processor) revocationOutage(ctx context.Context, m *inMessage, inner []byte, opts smime.VerifyOptions, cause error) (*smime.Verified, error) {
	elapsed := p.now().Sub(m.stored.Received)
	if !m.stored.Released && elapsed < p.cfg.RevocationRetryFor {
		return nil, &gateway.SnoozeError{Delay: revocationBackoff(elapsed, p.cfg.RevocationRetryFor-elapsed)}
	}
	if !m.stored.Released && p.cfg.RevocationPolicy != RevocationAccept {
		return nil, cause
	}
	opts.RevocationSoftFail = true
	v, err := smime.Verify(ctx, inner, opts)
	if err == nil {
		m.revocationUnknown = true
	}
	return v, err
}

// revocationBackoff grows with the time already waited (half of it, from
// 30 seconds up to 30 minutes) and never passes the end of the retry window.
func revocationBackoff(elapsed, left time.Duration) time.Duration {
	d := min(max(elapsed/2, 30*time.Second), 30*time.Minute)
	return max(min(d, left), time.Second)
}
