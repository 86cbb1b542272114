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
