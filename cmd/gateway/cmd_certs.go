package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/gateway"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdCerts(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	_, args, err := sub(args, "dev")
	if err != nil {
		return err
	}
	fs := newFlags("certs dev", &cfg, stderr, dataFlag)
	domain := fs.String("domain", "", "the Direct domain to issue for (required)")
	var addrs stringList
	fs.Var(&addrs, "address", "a Direct address to issue an address-bound certificate for (repeatable); none: one domain-bound certificate")
	out := fs.String("out", "", "directory to write into; default <data>/direct-certs")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *domain == "" {
		return usagef("--domain is required")
	}
	for _, a := range addrs {
		if err := gateway.ValidateDirectAddress(a); err != nil {
			return usagef("--address %q: %v", a, err)
		}
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "direct-certs")
	}
	if err := certs.WriteDevBundle(dir, *domain, addrs, time.Now().UTC()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a DEVELOPMENT CA and certificates for %s to %s\n", *domain, dir)
	fmt.Fprintf(stdout, "serve with: gateway serve --direct-domain %s --direct-certs %s\n", *domain, dir)
	return nil
}
