package audit

import (
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"
)

// baseTime is the synthetic start of every test trail.
var baseTime = time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC)

// testEvent returns a synthetic event; i varies the action and detail.
func testEvent(i int) Event {
	actions := []string{"referral.created", "consent.checked", "delivery.sent", "delivery.delivered", "referral.accepted"}
	return Event{
		Time:       baseTime.Add(time.Duration(i) * time.Minute),
		Actor:      "user:dr-test",
		ReferralID: "ref-0001",
		Action:     actions[i%len(actions)],
		Outcome:    OutcomeSuccess,
		Detail:     map[string]string{"delivery": fmt.Sprintf("dlv-%03d", i), "channel": "direct"},
	}
}

// buildChain returns a valid chain of n entries for tenant.
func buildChain(t testing.TB, tenant string, n int) []Entry {
	t.Helper()
	var chain []Entry
	var seq int64
	var prev string
	for i := range n {
		e := NewEntry(tenant, seq, prev, testEvent(i))
		chain = append(chain, e)
		seq, prev = e.Seq, e.Hash
	}
	return chain
}

// rows yields entries with no error, as a store's query would.
func rows(entries []Entry) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// rowsThenError yields entries and then err.
func rowsThenError(entries []Entry, err error) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
		yield(Entry{}, err)
	}
}

// cloneChain deep-copies entries so a test can tamper without aliasing Detail maps.
func cloneChain(entries []Entry) []Entry {
	out := slices.Clone(entries)
	for i := range out {
		if out[i].Detail != nil {
			d := make(map[string]string, len(out[i].Detail))
			for k, v := range out[i].Detail {
				d[k] = v
			}
			out[i].Detail = d
		}
	}
	return out
}
