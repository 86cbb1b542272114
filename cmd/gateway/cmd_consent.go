package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

func cmdConsent(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if _, args2, err := sub(args, "add"); err != nil {
		return err
	} else {
		args = args2
	}
	fs := newFlags("consent add", &cfg, stderr, storeFlags, baaFlags, vendorFlags)
	actor := fs.String("actor", os.Getenv("USER"), "who records it")
	var c gateway.ConsentRecord
	var kind, signed, expires, recipients, purposes string
	fs.StringVar(&c.Tenant, "org", "", "practice holding the consent (the referrer)")
	fs.StringVar(&c.PatientID, "patient", "", "patient id (MRN) at that practice")
	fs.StringVar(&kind, "kind", "", "authorization or part2")
	fs.StringVar(&signed, "signed", "", "signature date YYYY-MM-DD")
	fs.StringVar(&expires, "expires", "", "expiry date YYYY-MM-DD")
	fs.StringVar(&recipients, "recipients", "", "comma-separated directory ids it names (empty: any treating provider)")
	fs.StringVar(&purposes, "purposes", "", "comma-separated purposes of use it covers")
	if err := parse(fs, args); err != nil {
		return err
	}
	c.Kind = gateway.ConsentKind(kind)
	var err error
	if c.Signed, err = optDate("signed", signed); err != nil {
		return err
	}
	if c.Expires, err = optDate("expires", expires); err != nil {
		return err
	}
	c.Recipients = splitList(recipients)
	c.Purposes = splitList(purposes)
	a, err := openApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	got, err := a.svc.CaptureConsent(ctx, cliActor(*actor), c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "consent %s on file (%s for patient at %s)\n", got.ID, got.Kind, got.Tenant)
	return nil
}

func optDate(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return t, usagef("--%s must be YYYY-MM-DD", name)
	}
	return t, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
