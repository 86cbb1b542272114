package gateway

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/referralgw/gateway/audit"
)

// EdgeEvent is something an unauthenticated edge refused before it could
// be tied to a practice: a refused SMTP message, a callback with a bad
// signature, a login for an account that does not exist. Such events go to
// the gateway's own chain (SystemTenant) and are aggregated so that a flood
// writes a bounded number of entries.
//
// A message that verifies but that anyone who captured it can send again
// (a replayed fax callback) is tied to a referral yet just as repeatable:
// with Tenants set, its entries go to those practices' chains naming
// ReferralID, aggregated the same way.
type EdgeEvent struct {
	Action string // the audit action, e.g. "direct.inbound-refused", "fax.callback.refused", "auth.login-failed"
	Source string // where it came from: a peer address, a sender domain, a client id ("" when unknown)
	Reason string // our own short code for the refusal, e.g. "signature mismatch", "unknown-account"
	Text   string // attacker-supplied text worth keeping (a name, an address); truncated and escaped

	Tenants    []string // the practices whose chains record it; none: the gateway's own
	ReferralID string   // the referral it is about, with Tenants
	Outcome    string   // the entries' outcome; audit.OutcomeRefused when empty
}

// Limits of the edge aggregation.
const (
	// EdgeInterval is the aggregation window: per (action, source, reason)
	// the first event of a window is written at once, the rest are counted
	// and written as one entry when the window closes.
	EdgeInterval = 10 * time.Second
	// EdgeTextMax is how many bytes of attacker text are kept, before escaping.
	EdgeTextMax = 64
	// EdgeKeysMax bounds the distinct keys of one window, and with them
	// the entries a window writes whatever the attacker varies: beyond it,
	// events are counted under their action and reason with source "*".
	// A window writes at most EdgeKeysMax entries at once and, when it
	// closes, at most EdgeKeysMax counts plus one "*" entry per action and
	// reason. The sources are the attacker's to choose (an IPv6 /48 holds
	// 65,536 /64 client keys), so this, not the number of sources, is what
	// a flood costs the trail.
	EdgeKeysMax = 32
)

// edgeKey is what events are counted under; tenants are joined by NUL.
type edgeKey struct{ action, source, reason, tenants, referral, outcome string }

// edgeCount is what one window holds for one key beyond its first event.
type edgeCount struct {
	n    int
	text string // the latest text
}

// edgeAggregator counts edge events per window.
type edgeAggregator struct {
	mu     sync.Mutex
	window time.Time // start of the current window
	counts map[edgeKey]*edgeCount
}

// RecordEdge audits an event of an unauthenticated edge in the gateway's
// own chain. The first event of each (action, source, reason) in a window
// of EdgeInterval is written at once with count 1; later ones in the window
// are counted and written as one entry (with their count and the latest
// text) by the next RecordEdge after the window or by FlushEdges. Attacker
// text is cut to EdgeTextMax bytes and escaped (quoted, non-printable and
// non-ASCII runes as Go escapes).
func (s *Service) RecordEdge(ctx context.Context, ev EdgeEvent) error {
	now := s.clock.Now()
	k := edgeKey{ev.Action, ev.Source, ev.Reason, strings.Join(ev.Tenants, "\x00"), ev.ReferralID, ev.Outcome}
	text := EscapeEdgeText(ev.Text)
	a := &s.edges
	a.mu.Lock()
	due := a.rollLocked(now)
	first := false
	switch c, ok := a.counts[k]; {
	case ok:
		c.n++
		c.text = text
	case len(a.counts) >= EdgeKeysMax:
		k.source = "*"
		if c, ok := a.counts[k]; ok {
			c.n++
			c.text = text
		} else {
			a.counts[k] = &edgeCount{n: 1, text: text}
		}
	default:
		a.counts[k] = &edgeCount{}
		first = true
	}
	a.mu.Unlock()
	if first {
		due = append(due, edgeEntry(now, k, 1, text))
	}
	return s.writeEdges(ctx, due)
}

// FlushEdges writes the counts of the current window (serve calls it on a
// schedule and on shutdown, so no count is lost when traffic stops).
func (s *Service) FlushEdges(ctx context.Context) error {
	a := &s.edges
	a.mu.Lock()
	due := a.drainLocked(s.clock.Now())
	a.window = time.Time{}
	a.mu.Unlock()
	return s.writeEdges(ctx, due)
}

// rollLocked starts a new window when the current one has ended and returns
// the entries that close the old one.
func (a *edgeAggregator) rollLocked(now time.Time) []audit.Event {
	if a.counts != nil && now.Before(a.window.Add(EdgeInterval)) {
		return nil
	}
	due := a.drainLocked(now)
	a.window = now
	return due
}

// drainLocked turns the counts of the window into entries and empties it.
func (a *edgeAggregator) drainLocked(now time.Time) []audit.Event {
	var due []audit.Event
	for k, c := range a.counts {
		if c.n > 0 {
			due = append(due, edgeEntry(now, k, c.n, c.text))
		}
	}
	a.counts = map[edgeKey]*edgeCount{}
	return due
}

func edgeEntry(now time.Time, k edgeKey, n int, text string) audit.Event {
	d := map[string]string{"reason": k.reason, "count": strconv.Itoa(n)}
	if k.source != "" {
		d["source"] = k.source
	}
	if text != "" {
		d["text"] = text
	}
	tenants := []string{SystemTenant}
	if k.tenants != "" {
		tenants = strings.Split(k.tenants, "\x00")
	}
	outcome := k.outcome
	if outcome == "" {
		outcome = audit.OutcomeRefused
	}
	return audit.Event{Time: now, Actor: "anonymous", Tenants: tenants, ReferralID: k.referral, Action: k.action,
		Outcome: outcome, Detail: d}
}

func (s *Service) writeEdges(ctx context.Context, evs []audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return s.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		for _, ev := range evs {
			if err := tx.Audit(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// EscapeEdgeText makes attacker-supplied text safe to keep: at most
// EdgeTextMax bytes of it (cut on a rune boundary, "..." marking the cut),
// quoted with every control, non-printable and non-ASCII rune escaped.
func EscapeEdgeText(s string) string {
	if s == "" {
		return ""
	}
	cut := false
	if len(s) > EdgeTextMax {
		n := EdgeTextMax
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s, cut = s[:n], true
	}
	q := strconv.QuoteToASCII(strings.ToValidUTF8(s, "\uFFFD"))
	if cut {
		q += "..."
	}
	return q
}
