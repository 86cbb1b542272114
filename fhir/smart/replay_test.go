package smart

import (
	"testing"
	"time"
)

func TestMemoryReplayCache(t *testing.T) {
	clock := newFakeClock()
	c := NewMemoryReplayCache(clock.Now)
	exp := clock.Now().Add(2 * time.Minute)
	steps := []struct {
		name     string
		advance  time.Duration
		client   string
		jti      string
		wantSeen bool
		wantLen  int
	}{
		{"first use", 0, "c1", "j1", false, 1},
		{"replay", 0, "c1", "j1", true, 1},
		{"same jti other client", 0, "c2", "j1", false, 2},
		{"replay just before exp", 2*time.Minute - time.Second, "c1", "j1", true, 2},
		{"entry lapsed at exp", time.Second, "c1", "j1", false, 1},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		seen, err := c.Seen(t.Context(), s.client, s.jti, exp)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if seen != s.wantSeen || c.Len() != s.wantLen {
			t.Errorf("%s: seen %v len %d, want %v %d", s.name, seen, c.Len(), s.wantSeen, s.wantLen)
		}
	}
}

func TestMemoryReplayCacheMixedExpiry(t *testing.T) {
	clock := newFakeClock()
	c := NewMemoryReplayCache(clock.Now)
	start := clock.Now()
	for i, exp := range []time.Duration{3 * time.Minute, time.Minute, 2 * time.Minute} {
		if seen, err := c.Seen(t.Context(), "c1", string(rune('a'+i)), start.Add(exp)); err != nil || seen {
			t.Fatalf("insert %d: seen %v err %v", i, seen, err)
		}
	}
	checks := []struct {
		at      time.Duration
		jti     string
		want    bool
		wantLen int
	}{
		{90 * time.Second, "a", true, 2},   // b (1 min) lapsed; a still held
		{150 * time.Second, "c", false, 2}, // c (2 min) lapsed, recorded again until 3m30s
		{150 * time.Second, "b", false, 3}, // b recorded again until 3m30s
		{200 * time.Second, "c", true, 2},  // a (3 min) lapsed; c still held
		{200 * time.Second, "a", false, 3}, // a recorded again
	}
	for _, ck := range checks {
		clock.mu.Lock()
		clock.now = start.Add(ck.at)
		clock.mu.Unlock()
		seen, err := c.Seen(t.Context(), "c1", ck.jti, start.Add(ck.at+time.Minute))
		if err != nil || seen != ck.want || c.Len() != ck.wantLen {
			t.Errorf("at %v jti %s: seen %v len %d err %v; want %v %d", ck.at, ck.jti, seen, c.Len(), err, ck.want, ck.wantLen)
		}
	}
}
