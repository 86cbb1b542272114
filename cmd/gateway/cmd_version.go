package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/referralgw/gateway/gateway/buildinfo"
)

// cmdVersion prints which build this is: module version, commit and Go
// version, as one line or (--json) as an object.
func cmdVersion(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", &cfg, stderr, noFlags)
	asJSON := fs.Bool("json", false, "print the build information as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("version takes no arguments")
	}
	info := buildinfo.Read()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintln(stdout, info)
	return err
}
