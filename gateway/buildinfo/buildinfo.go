// Package buildinfo reports which build of the gateway is running: the
// module version, the commit it was built from and the Go version. The
// values come from the binary itself (runtime/debug.ReadBuildInfo), so a
// `go build` from a git checkout needs no linker flags to carry them.
//
// It imports only the standard library, so every face of the gateway (the
// CLI, /healthz, the console footer) can show the same line.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Info describes one build.
type Info struct {
	// Version is the main module's version ("(devel)" for a local build).
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, if known.
	Commit string `json:"commit,omitempty"`
	// CommitTime is the revision's commit time (RFC 3339), if known.
	CommitTime string `json:"commitTime,omitempty"`
	// Modified reports uncommitted changes in the build's working tree.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"goVersion"`
}

// Read returns the running binary's build information. Fields the binary
// does not carry (a test binary has no VCS stamp) are left empty.
func Read() Info {
	info := Info{Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.CommitTime = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// ShortCommit is the first twelve characters of the commit, with
// "+dirty" when the tree had uncommitted changes; "unknown" when the
// binary carries no revision.
func (i Info) ShortCommit() string {
	if i.Commit == "" {
		return "unknown"
	}
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += "+dirty"
	}
	return c
}

// String is the one-line form: "gateway (devel) commit 0123456789ab go1.26.0".
func (i Info) String() string {
	return strings.Join([]string{"gateway", i.Version, "commit", i.ShortCommit(), i.GoVersion}, " ")
}
