package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/referralgw/gateway/fax/packet"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/compliance"
)

// writeReceipt prints the compliance receipt of one referral.
func writeReceipt(ctx context.Context, a *app, id, format string, w io.Writer) error {
	// Sequence and publish first, as audit export and prove do, so the
	// receipt cites the newest entries (a no-op when a running serve is
	// the sequencer: it reads what that has sequenced).
	if _, err := a.store.PublishAudit(ctx); err != nil {
		return err
	}
	rc, err := a.svc.ComplianceReceipt(ctx, id)
	if err != nil {
		return err
	}
	switch format {
	case "text", "":
		err = compliance.WriteReceiptText(w, rc)
	case "html":
		err = compliance.WriteReceiptHTML(w, rc)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(rc)
	case "fhir":
		entries, terr := a.svc.ReferralTrail(ctx, id)
		if terr != nil {
			return terr
		}
		err = compliance.WriteReceiptFHIR(w, rc, entries)
	case "pdf":
		// The fax packet's renderer lays it out, so the receipt looks like
		// the packets the practice already files.
		var text bytes.Buffer
		if err := compliance.WriteReceiptText(&text, rc); err != nil {
			return err
		}
		pdf, perr := packet.RenderDocument(packet.Document{Title: "Compliance receipt for referral " + rc.ReferralID,
			Date: rc.Generated, Text: text.String()})
		if perr != nil {
			return perr
		}
		_, err = w.Write(pdf)
	default:
		return usagef("--format %q: one of text, html, json, fhir, pdf", format)
	}
	if err != nil {
		return err
	}
	if !rc.Verification.OK {
		return fmt.Errorf("receipt of %s does not verify against the audit trail", id)
	}
	return nil
}

// cmdReport prints practice reports.
func cmdReport(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "referrals")
	if err != nil {
		return err
	}
	fs := newFlags("report "+verb, &cfg, stderr, storeFlags)
	practice := fs.String("practice", "", "practice (organization directory id) the report is for")
	from := fs.String("from", "", "first day of the period, YYYY-MM-DD (default: 30 days before --to)")
	to := fs.String("to", "", "last day of the period, YYYY-MM-DD, inclusive (default: today)")
	openAge := fs.Duration("open-age", gateway.DefaultOpenAge, "age past which an open referral is listed for remediation")
	format := fs.String("format", "table", "table, csv or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *practice == "" {
		return usagef("--practice is required")
	}
	end := time.Now().UTC().Truncate(24 * time.Hour)
	if *to != "" {
		if end, err = time.Parse(time.DateOnly, *to); err != nil {
			return usagef("--to %q: want YYYY-MM-DD", *to)
		}
	}
	end = end.Add(24 * time.Hour) // --to is inclusive
	start := end.AddDate(0, 0, -30)
	if *from != "" {
		if start, err = time.Parse(time.DateOnly, *from); err != nil {
			return usagef("--from %q: want YYYY-MM-DD", *from)
		}
	}
	if !start.Before(end) {
		return usagef("--from must not be after --to")
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usagef("--format %q: one of table, csv, json", *format)
	}
	a, err := openApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.svc.Entry(ctx, *practice); err != nil {
		return fmt.Errorf("practice %s: %w", *practice, err)
	}
	rep, err := a.svc.PracticeReport(ctx, gateway.ReportQuery{Practice: *practice, From: start, To: end, OpenOlderThan: *openAge})
	if err != nil {
		return err
	}
	switch *format {
	case "csv":
		return compliance.WriteReportCSV(stdout, rep)
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return compliance.WriteReportTable(stdout, rep)
}
