package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/gateway"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdCerts(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "dev", "check")
	if err != nil {
		return err
	}
	if verb == "check" {
		return certsCheck(ctx, cfg, args, stdout, stderr)
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
	now := time.Now().UTC()
	if current, err := devBundleCurrent(dir, *domain, addrs, now); err != nil {
		return err
	} else if current {
		fmt.Fprintf(stdout, "%s already holds a DEVELOPMENT CA and certificates for %s: unchanged\n", dir, *domain)
		return nil
	}
	if err := certs.WriteDevBundle(dir, *domain, addrs, now); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a DEVELOPMENT CA and certificates for %s to %s\n", *domain, dir)
	fmt.Fprintf(stdout, "serve with: gateway serve --direct-domain %s --direct-certs %s\n", *domain, dir)
	return nil
}

// devBundleCurrent reports whether dir already holds a development bundle
// with a valid certificate for each name asked for, so that a second
// `certs dev` changes nothing. A directory that holds a CA but not those
// certificates is an error: writing a new CA there would orphan every
// certificate the old one issued, which others may already trust.
func devBundleCurrent(dir, domain string, addresses []string, now time.Time) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	names := addresses
	if len(names) == 0 {
		names = []string{domain}
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name+".pem"))
		var cert *x509.Certificate
		if err == nil {
			if blk, _ := pem.Decode(b); blk != nil {
				cert, _ = x509.ParseCertificate(blk.Bytes)
			}
		}
		_, keyErr := os.Stat(filepath.Join(dir, name+"-key.pem"))
		if cert == nil || keyErr != nil || !now.Before(cert.NotAfter) ||
			!(slices.Contains(cert.DNSNames, name) || slices.Contains(cert.EmailAddresses, name)) {
			return false, fmt.Errorf("%s already holds a development CA without a valid certificate for %s; "+
				"a new CA would replace the one others trust: choose another --out or remove the directory", dir, name)
		}
	}
	return true, nil
}
