package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestReadNamesTheToolchain(t *testing.T) {
	info := Read()
	if info.GoVersion != runtime.Version() {
		t.Fatalf("go version %q, want %q", info.GoVersion, runtime.Version())
	}
	if info.Version == "" {
		t.Fatal("empty module version")
	}
	if s := info.String(); !strings.HasPrefix(s, "gateway ") || !strings.Contains(s, runtime.Version()) {
		t.Fatalf("one-line form %q", s)
	}
}

func TestShortCommit(t *testing.T) {
	for _, tc := range []struct {
		info Info
		want string
	}{
		{Info{}, "unknown"},
		{Info{Commit: "0123456789abcdef0123"}, "0123456789ab"},
		{Info{Commit: "0123456789abcdef0123", Modified: true}, "0123456789ab+dirty"},
		{Info{Commit: "abc"}, "abc"},
	} {
		if got := tc.info.ShortCommit(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.info, got, tc.want)
		}
	}
}
