package gateway_test

import (
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

func TestEscapeEdgeText(t *testing.T) {
	for in, want := range map[string]string{
		"":                      ``,
		"plain":                 `"plain"`,
		"a\nb":                  `"a\nb"`,
		"é":                     `"\u00e9"`,
		"\xff":                  `"\ufffd"`,
		strings.Repeat("é", 40): `"` + strings.Repeat(`\u00e9`, 32) + `"...`,
	} {
		if got := gateway.EscapeEdgeText(in); got != want {
			t.Errorf("EscapeEdgeText(%q) = %s, want %s", in, got, want)
		}
	}
}
