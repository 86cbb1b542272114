package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

func cmdAudit(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "verify", "export", "checkpoint", "prove", "key")
	if err != nil {
		return err
	}
	fs := newFlags("audit "+verb, &cfg, stderr)
	var format, referral, tenant, out string
	var seq int64
	switch verb {
	case "export":
		fs.StringVar(&format, "format", "fhir", "export format: fhir (a Bundle of AuditEvent)")
		fs.StringVar(&referral, "referral", "", "only the entries of this referral")
		fs.StringVar(&tenant, "tenant", "", "only this practice's trail")
		fs.StringVar(&out, "o", "", "write to this file instead of standard output")
	case "prove":
		fs.StringVar(&tenant, "practice", "", "the practice (tenant) whose entry to prove")
		fs.Int64Var(&seq, "seq", 0, "the entry's sequence number")
	case "verify":
		fs.Var(&cfg.AuditWitnesses, "witness", "check against this witness (directory or URL) instead of the configured ones; repeatable")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if verb == "prove" && (tenant == "" || seq < 1) {
		return usagef("audit prove needs --practice and --seq (1 or more)")
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
		n, err := a.store.PublishAudit(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "signed and witnessed %d checkpoint(s)\n", n)
		return nil
	case "key":
		fmt.Fprintln(stdout, a.auditPub)
		return nil
	case "prove":
		return proveEntry(ctx, a, tenant, seq, stdout)
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
		// Publish first, so the newest entries are inside a checkpoint.
		if _, err := a.store.PublishAudit(ctx); err != nil {
			return err
		}
		cps, err := a.svc.LatestCheckpoints(ctx)
		if err != nil {
			return err
		}
		n, err := audit.ExportFHIR(w, a.store.AuditEntries(ctx, gateway.AuditQuery{Tenant: tenant, ReferralID: referral}),
			audit.ExportOptions{BundleID: gateway.NewID(), Generated: time.Now().UTC(), Checkpoints: cps})
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if out != "" {
			fmt.Fprintf(stdout, "wrote %d AuditEvent(s) to %s\n", n, out)
		}
		return nil
	}
}

// verifyTrail runs the gateway's one verification (the console's too):
// every chain, every tenant's tree against the witnessed checkpoints. It
// names the first broken sequence number of each broken chain and fails.
func verifyTrail(ctx context.Context, a *app, w io.Writer) error {
	rep, err := a.svc.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if rep.Unsequenced > 0 {
		fmt.Fprintf(w, "%d event(s) not yet sequenced, the oldest from %s (%s ago)\n", rep.Unsequenced,
			rep.OldestUnsequenced.UTC().Format(time.RFC3339), time.Since(rep.OldestUnsequenced).Round(time.Second))
	}
	if rep.OK() {
		fmt.Fprintf(w, "audit trail intact: %d entries in %d chain(s), %d witnessed checkpoint(s) checked\n", rep.Entries, rep.Tenants, rep.Checkpoints)
		return nil
	}
	fmt.Fprintf(w, "audit trail BROKEN: %d entries in %d chain(s), %d witnessed checkpoint(s)\n", rep.Entries, rep.Tenants, rep.Checkpoints)
	for _, b := range rep.Breaks {
		fmt.Fprintf(w, "  practice %s: first broken sequence number %d: %s\n", b.Tenant, b.Seq, b.Reason)
	}
	return errSilent
}

// proveEntry prints an entry, the latest witnessed checkpoint of its
// practice and the inclusion proof, in a form an auditor can check offline
// (docs/audit.md).
func proveEntry(ctx context.Context, a *app, tenant string, seq int64, w io.Writer) error {
	// Sequence and publish first, so a fresh entry has a checkpoint.
	if _, err := a.store.PublishAudit(ctx); err != nil {
		return err
	}
	e, head, proof, err := a.svc.ProveAudit(ctx, tenant, seq)
	if errors.Is(err, gateway.ErrNotFound) {
		return fmt.Errorf("audit prove: %w", err)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, "entry %s %d %s\n", e.Tenant, e.Seq, e.Hash)
	fmt.Fprintf(w, "leaf index %d of tree size %d\n", e.Seq-1, head.Size)
	fmt.Fprintln(w, "proof")
	for _, h := range proof {
		fmt.Fprintln(w, base64.StdEncoding.EncodeToString(h))
	}
	fmt.Fprintln(w, "checkpoint")
	w.Write(head.Note)
	fmt.Fprintln(w, "public key "+a.auditKey.Name()+" ("+strconv.Itoa(len(proof))+" proof hashes verified against it)")
	return nil
}
