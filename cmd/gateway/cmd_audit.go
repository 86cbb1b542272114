package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

func cmdAudit(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "verify", "export", "checkpoint")
	if err != nil {
		return err
	}
	fs := newFlags("audit "+verb, &cfg, stderr)
	var format, referral, tenant, out string
	if verb == "export" {
		fs.StringVar(&format, "format", "fhir", "export format: fhir (a Bundle of AuditEvent)")
		fs.StringVar(&referral, "referral", "", "only the entries of this referral")
		fs.StringVar(&tenant, "tenant", "", "only this practice's trail")
		fs.StringVar(&out, "o", "", "write to this file instead of standard output")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	switch verb {
	case "verify":
		return verifyTrail(ctx, a, stdout)
	case "checkpoint":
		n, err := checkpoint(ctx, a)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "signed %d checkpoint(s)\n", n)
		return nil
	default:
		if format != "fhir" {
			return usagef("--format must be fhir")
		}
		if referral != "" { // an unknown referral is an error, not an empty trail
			if _, _, err := a.svc.Referral(ctx, referral); err != nil {
				return err
			}
		}
		w := stdout
		if out != "" {
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		n, err := audit.ExportFHIR(w, a.store.AuditEntries(ctx, gateway.AuditQuery{Tenant: tenant, ReferralID: referral}),
			audit.ExportOptions{BundleID: gateway.NewID(), Generated: time.Now().UTC()})
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if out != "" {
			fmt.Fprintf(stdout, "wrote %d AuditEvent(s) to %s\n", n, out)
		}
		return nil
	}
}

// verifyTrail walks every chain and the signed checkpoints; it reports the
// first broken sequence number of each broken chain and fails.
func verifyTrail(ctx context.Context, a *app, w io.Writer) error {
	cps, err := a.store.Checkpoints(ctx)
	if err != nil {
		return err
	}
	rep, err := audit.VerifyWithCheckpoints(a.store.AuditEntries(ctx, gateway.AuditQuery{}), cps, a.auditKey)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if rep.OK() {
		fmt.Fprintf(w, "audit trail intact: %d entries in %d chain(s), %d checkpoint(s) checked\n", rep.Entries, rep.Tenants, len(cps))
		return nil
	}
	fmt.Fprintf(w, "audit trail BROKEN: %d entries in %d chain(s)\n", rep.Entries, rep.Tenants)
	for _, b := range rep.Breaks {
		fmt.Fprintf(w, "  tenant %s: first broken sequence number %d: %s\n", b.Tenant, b.Seq, b.Reason)
	}
	return errSilent
}

// checkpoint signs the current head of every chain with the audit key,
// which lives outside the database, so a rewritten or truncated tail is
// detected later.
func checkpoint(ctx context.Context, a *app) (int, error) {
	heads, err := a.store.AuditHeads(ctx)
	if err != nil {
		return 0, err
	}
	for _, h := range heads {
		if err := a.store.SaveCheckpoint(ctx, audit.SignCheckpoint(a.auditKey, h, time.Now().UTC())); err != nil {
			return 0, err
		}
	}
	return len(heads), nil
}
