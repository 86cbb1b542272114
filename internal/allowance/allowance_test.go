package allowance

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestLimit(t *testing.T) {
	now := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	l := New(rate.Every(time.Minute), 3, 2)
	for i := range 3 {
		if w := l.Wait("a", now); w != 0 {
			t.Fatalf("failure %d: wait %v within the allowance", i, w)
		}
		l.Spend("a", now)
	}
	if w := l.Wait("a", now); w < 59*time.Second || w > time.Minute {
		t.Errorf("allowance spent: wait %v, want about a minute", w)
	}
	if w := l.Wait("b", now); w != 0 {
		t.Errorf("another key waits %v for a's failures", w)
	}
	if w := l.Wait("a", now.Add(time.Minute)); w != 0 {
		t.Errorf("a minute later: wait %v, want the refilled one", w)
	}
	// A full table (a, b) forgets the keys whose allowance is whole again.
	l.Spend("b", now)
	bAgain := now.Add(3 * time.Minute)
	l.Spend("c", bAgain) // a and b are both whole by now: both forgotten
	if len(l.by) != 1 {
		t.Errorf("after pruning: %d keys remembered, want 1", len(l.by))
	}
	// Nothing whole to forget: the table starts afresh.
	l.Spend("d", bAgain)
	l.Spend("d", bAgain)
	l.Spend("c", bAgain)
	l.Spend("e", bAgain)
	if len(l.by) != 1 || l.by["e"] == nil {
		t.Errorf("full of spent keys: %d keys remembered, want only the new one", len(l.by))
	}
}
