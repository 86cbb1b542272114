package gateway_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/referralgw/gateway/gateway"
)

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"longer text", 6, "longer…"},
		{"xéé", 2, "x…"}, // byte 2 is inside "é": cut before it
		{"a\xffb", 10, "a?b"},
	} {
		if got := gateway.Truncate(c.in, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
	if got := gateway.Truncate(strings.Repeat("日本", 100), 301); !utf8.ValidString(got) {
		t.Errorf("cut a character in two: %q", got)
	}
}
