package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
)

func cmdDirectory(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "add", "list", "show", "set-baa", "verify", "check", "import", "export")
	if err != nil {
		return err
	}
	var fs *flag.FlagSet
	actor := new(string)
	switch verb {
	case "list", "show", "export":
		fs = newFlags("directory "+verb, &cfg, stderr, storeFlags, baaFlags)
	default: // the verbs that change the directory
		fs = newFlags("directory "+verb, &cfg, stderr)
		fs.StringVar(actor, "actor", os.Getenv("USER"), "who makes the change (recorded in the audit trail)")
	}
	var (
		e                                        gateway.Entry
		fhirURL, direct, certFile, fax, channels string
		file, state, end, method, search, kind   string
		format                                   string
		check                                    checkOptions
	)
	switch verb {
	case "add":
		fs.StringVar(&e.ID, "id", "", "entry id (letters, digits, '-', '.')")
		fs.StringVar(&kind, "kind", "organization", "organization, location, practitioner or vendor")
		fs.StringVar(&e.Name, "name", "", "display name")
		fs.StringVar(&e.NPI, "npi", "", "National Provider Identifier (10 digits)")
		fs.StringVar(&e.ParentID, "parent", "", "parent organization id")
		fs.BoolVar(&e.OnPlatform, "on-platform", false, "the party's EHR is on the platform (FHIR)")
		fs.StringVar(&fhirURL, "fhir-url", "", "FHIR base URL to push to (on-platform parties; empty: they pull)")
		fs.StringVar(&direct, "direct", "", "Direct address")
		fs.StringVar(&certFile, "direct-cert", "", "PEM file with the party's Direct certificate (else discovered in DNS)")
		fs.StringVar(&fax, "fax", "", "fax number in E.164 form (+1...)")
		fs.StringVar(&channels, "channels", "", "preferred channel order, e.g. direct,fax (default fhir,direct,fax)")
		fs.StringVar(&e.VendorRole, "vendor-role", "", "fax or hisp, for --kind vendor")
		fs.StringVar(&file, "file", "", "read the entry as JSON from this file instead of flags")
	case "list":
		fs.StringVar(&search, "search", "", "filter by name, id, NPI or Direct address")
		fs.StringVar(&kind, "kind", "", "filter by kind")
	case "set-baa":
		fs.StringVar(&state, "state", "", "draft, sent, active or terminated")
		fs.StringVar(&end, "end", "", "end date YYYY-MM-DD (required to activate)")
		fs.StringVar(&file, "document", "", "reference to the signed agreement")
	case "verify":
		fs.StringVar(&method, "method", "", "how the contact was confirmed, e.g. \"phone call to front desk\"")
	case "check":
		fs.BoolVar(&check.wait, "wait", false, "follow the requested round and print its progress until it has finished (exit 1 when a check failed)")
		fs.DurationVar(&check.timeout, "timeout", 30*time.Minute, "with --wait: stop waiting after this long (the round goes on; 0: no limit)")
		fs.DurationVar(&check.interval, "interval", time.Second, "with --wait: how often to read the round's progress")
		fs.BoolVar(&check.status, "status", false, "ask for nothing: show the newest round (start, end, counts, failed entries)")
		fs.BoolVar(&check.asJSON, "json", false, "with --status: print JSON")
	case "import":
		fs.StringVar(&format, "format", "gateway", "gateway (our JSON: entries, BAAs, verifications), nppes (CMS NPPES endpoint CSV) or fhir (a Plan-Net style Bundle)")
	case "export":
		fs.StringVar(&format, "format", "fhir", "fhir: the directory as a FHIR R4 Bundle")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if verb == "check" {
		switch {
		case len(rest) != 0:
			return usagef("directory check takes no arguments: a round checks every entry with an endpoint")
		case check.status && check.wait:
			return usagef("--status shows the newest round without asking for one; --wait asks and follows: use one")
		case check.asJSON && !check.status:
			return usagef("--json goes with --status")
		case check.timeout < 0:
			return usagef("--timeout must not be negative")
		case check.interval <= 0:
			return usagef("--interval must be positive")
		}
	}
	a, err := openApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	who := cliActor(*actor)

	switch verb {
	case "add":
		if file != "" {
			b, err := readInput(file)
			if err != nil {
				return err
			}
			if err := strictJSON(b, &e); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
		} else {
			e.Kind = gateway.EntryKind(kind)
			if fhirURL != "" || e.OnPlatform {
				e.FHIR = &gateway.FHIREndpoint{BaseURL: fhirURL}
			}
			if direct != "" {
				e.Direct = &gateway.DirectEndpoint{Address: direct}
				if certFile != "" {
					pem, err := os.ReadFile(certFile)
					if err != nil {
						return err
					}
					e.Direct.CertPEM = string(pem)
				}
			}
			if fax != "" {
				e.Fax = &gateway.FaxEndpoint{Number: fax}
			}
			for _, c := range strings.Split(channels, ",") {
				if c = strings.TrimSpace(c); c != "" {
					e.ChannelOrder = append(e.ChannelOrder, gateway.ChannelKind(c))
				}
			}
		}
		got, err := a.svc.PutEntry(ctx, who, &e)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved %s %s (version %d)\n", got.Kind, got.ID, got.Version)
		return nil
	case "list":
		list, err := a.svc.ListEntries(ctx, gateway.EntryQuery{Search: search, Kind: gateway.EntryKind(kind)})
		if err != nil {
			return err
		}
		baas := map[string]*gateway.BAA{}
		all, err := a.svc.BAAs(ctx)
		if err != nil {
			return err
		}
		for _, b := range all {
			baas[b.PartyID] = b
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tNAME\tNPI\tCHANNELS\tBAA\tVERIFIED\tCHECKED")
		for _, e := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", e.ID, e.Kind, e.Name, dash(e.NPI), channelSummary(e),
				dash(string(baas[e.ID].Effective(time.Now(), a.cfg.BAAWarningWindow))), e.Verified(), checkSummary(e))
		}
		return tw.Flush()
	case "show":
		if len(rest) != 1 {
			return usagef("directory show ID")
		}
		e, err := a.svc.Entry(ctx, rest[0])
		if err != nil {
			return err
		}
		out := struct {
			*gateway.Entry
			BAA *baaView `json:"baa,omitempty"`
		}{Entry: e}
		all, err := a.svc.BAAs(ctx)
		if err != nil {
			return err
		}
		for _, b := range all {
			if b.PartyID == e.ID {
				out.BAA = &baaView{BAA: b, InForce: b.Effective(time.Now(), a.cfg.BAAWarningWindow)}
			}
		}
		return printJSON(stdout, out)
	case "set-baa":
		if len(rest) != 1 || state == "" {
			return usagef("directory set-baa PARTY-ID --state draft|sent|active|terminated [--end YYYY-MM-DD]")
		}
		c := gateway.BAAChange{PartyID: rest[0], State: gateway.BAAState(state), Document: file}
		if end != "" {
			t, err := time.Parse(time.DateOnly, end)
			if err != nil {
				return usagef("--end must be YYYY-MM-DD")
			}
			c.End = t
		}
		b, err := a.svc.SetBAA(ctx, who, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "BAA with %s is %s\n", b.PartyID, b.Effective(time.Now(), a.cfg.BAAWarningWindow))
		return nil
	case "verify":
		if len(rest) != 1 {
			return usagef("directory verify ID --method \"how it was confirmed\"")
		}
		e, err := a.svc.VerifyEntry(ctx, who, rest[0], method)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "verified %s by %s (%s)\n", e.ID, e.Verification.By, e.Verification.Method)
		return nil
	case "check":
		return directoryCheck(ctx, a, who, check, stdout, stderr)
	case "export":
		if format != "fhir" {
			return usagef("--format must be fhir")
		}
		return dirimport.ExportFHIR(ctx, a.svc, stdout)
	default: // import
		if len(rest) != 1 {
			return usagef("directory import [--format gateway|nppes|fhir] FILE")
		}
		switch format {
		case "gateway":
			return importDirectory(ctx, a, who, rest[0], stdout)
		case "nppes", "fhir":
			return importExternal(ctx, a, who, format, rest[0], stdout, stderr)
		}
		return usagef("--format must be gateway, nppes or fhir")
	}
}

// importExternal imports an NPPES endpoint file or a FHIR Bundle with a
// progress bar; rows that cannot be imported are listed and make the exit
// status 1, and never stop the others.
func importExternal(ctx context.Context, a *app, who gateway.Actor, format, path string, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var rows dirimport.Rows
	if format == "nppes" {
		rows = dirimport.NPPES(f, dirimport.NPPESOptions{})
	} else if rows, err = dirimport.FHIRBundle(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	bar := dirimport.NewProgress(stderr, rows.Total, "import")
	sum, err := dirimport.Apply(ctx, a.svc, who, rows, bar.Update)
	bar.Finish()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	fmt.Fprintln(stdout, sum)
	if err := requestCheckAfterImport(ctx, a, who, sum.Added+sum.Updated, stdout); err != nil {
		return err
	}
	if len(sum.Skipped) > 0 {
		return errSilent
	}
	return nil
}

// baaView shows a BAA with the state in force today.
type baaView struct {
	*gateway.BAA
	InForce gateway.BAAState `json:"inForce"`
}

// directoryFile is our own import format: entries, then BAAs.
type directoryFile struct {
	Entries []json.RawMessage   `json:"entries"`
	BAAs    []gateway.BAAChange `json:"baas"`
	Verify  []struct {
		ID     string `json:"id"`
		Method string `json:"method"`
	} `json:"verify"`
}

// importDirectory applies a directory file entry by entry: a broken entry
// is reported with its position and never stops the rest.
func importDirectory(ctx context.Context, a *app, who gateway.Actor, path string, stdout io.Writer) error {
	b, err := readInput(path)
	if err != nil {
		return err
	}
	var f directoryFile
	if err := strictJSON(b, &f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var added, updated, unchanged, skipped int
	for i, raw := range f.Entries {
		var e gateway.Entry
		if err := strictJSON(raw, &e); err != nil {
			fmt.Fprintf(stdout, "entries[%d]: skipped: %v\n", i, err)
			skipped++
			continue
		}
		old, lookErr := a.svc.Entry(ctx, e.ID)
		if lookErr == nil {
			if sameEntry(old, &e) {
				unchanged++
				continue
			}
			e.Version = old.Version
		}
		if _, err := a.svc.PutEntry(ctx, who, &e); err != nil {
			fmt.Fprintf(stdout, "entries[%d] (%s): skipped: %s\n", i, e.ID, describe(err))
			skipped++
			continue
		}
		if errors.Is(lookErr, gateway.ErrNotFound) {
			added++
		} else {
			updated++
		}
	}
	baas, err := a.svc.BAAs(ctx)
	if err != nil {
		return err
	}
	held := map[string]*gateway.BAA{}
	for _, b := range baas {
		held[b.PartyID] = b
	}
	for i, c := range f.BAAs {
		if sameBAA(held[c.PartyID], c) {
			unchanged++
			continue
		}
		if _, err := a.svc.SetBAA(ctx, who, c); err != nil {
			fmt.Fprintf(stdout, "baas[%d] (%s): skipped: %s\n", i, c.PartyID, describe(err))
			skipped++
			continue
		}
		if held[c.PartyID] == nil {
			added++
		} else {
			updated++
		}
	}
	for i, v := range f.Verify {
		if e, err := a.svc.Entry(ctx, v.ID); err == nil && e.Verification != nil && e.Verification.Method == v.Method {
			unchanged++
			continue
		}
		if _, err := a.svc.VerifyEntry(ctx, who, v.ID, v.Method); err != nil {
			fmt.Fprintf(stdout, "verify[%d] (%s): skipped: %s\n", i, v.ID, describe(err))
			skipped++
			continue
		}
		updated++
	}
	fmt.Fprintf(stdout, "imported %s: %d added, %d updated, %d unchanged, %d skipped\n", path, added, updated, unchanged, skipped)
	if err := requestCheckAfterImport(ctx, a, who, added+updated, stdout); err != nil {
		return err
	}
	if skipped > 0 {
		return errSilent
	}
	return nil
}

// sameEntry reports whether writing next over old would change nothing
// but bookkeeping (version, time, verification), so that importing the
// same file twice is a no-op.
func sameEntry(old, next *gateway.Entry) bool {
	a, b := *old, *next
	a.Verification, b.Verification = nil, nil
	a.Checks, b.Checks = nil, nil // the gateway's own checks are not imported
	a.Version, b.Version = 0, 0
	a.Updated = b.Updated
	if a.Direct != nil && b.Direct != nil && b.Direct.CertExpires.IsZero() {
		d := *b.Direct
		d.CertExpires = a.Direct.CertExpires // derived from the certificate
		b.Direct = &d
	}
	return reflect.DeepEqual(&a, &b)
}

// sameBAA reports whether applying c to the BAA held would change nothing:
// the same stored state, and every term c sets already as it says.
func sameBAA(held *gateway.BAA, c gateway.BAAChange) bool {
	return held != nil && held.State == c.State &&
		(c.Start.IsZero() || c.Start.Equal(held.Start)) &&
		(c.End.IsZero() || c.End.Equal(held.End)) &&
		(c.Document == "" || c.Document == held.Document)
}

func channelSummary(e *gateway.Entry) string {
	var parts []string
	for _, k := range e.Channels() {
		switch {
		case k == gateway.ChannelFHIR && e.OnPlatform:
			parts = append(parts, "fhir")
		case k == gateway.ChannelDirect && e.Direct != nil:
			parts = append(parts, "direct")
		case k == gateway.ChannelFax && e.Fax != nil:
			parts = append(parts, "fax")
		}
	}
	return dash(strings.Join(parts, ","))
}

// checkSummary lists the gateway's last check of each channel, e.g.
// "fhir:ok,direct:failed" (see `directory show` for times and reasons).
func checkSummary(e *gateway.Entry) string {
	var parts []string
	for _, k := range []gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelDirect, gateway.ChannelFax} {
		if c := e.Check(k); c != nil {
			parts = append(parts, string(k)+":"+string(c.Status))
		}
	}
	return dash(strings.Join(parts, ","))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
