package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// referralFile is the JSON accepted by `referral create`: a
// gateway.NewReferral whose records may name a file (relative to the JSON
// file) instead of carrying base64 data.
type referralFile struct {
	gateway.NewReferral
	Records []struct {
		gateway.NewRecord
		Path string `json:"path,omitempty"`
	} `json:"records,omitempty"`
}

func cmdReferral(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "create", "submit", "show", "list", "transition", "answer", "override", "replace", "reverse", "receipt")
	if err != nil {
		return err
	}
	groups := []flagGroup{storeFlags}
	if verb != "show" && verb != "list" && verb != "receipt" { // the verbs that may route and gate
		groups = append(groups, baaFlags, vendorFlags, routeFlags)
	}
	fs := newFlags("referral "+verb, &cfg, stderr, groups...)
	actorName := fs.String("actor", os.Getenv("USER"), "who acts (recorded in the audit trail)")
	org := fs.String("org", "", "organization the actor acts for (default: the referrer for create/submit/answer/override/replace, the receiver for transition)")
	var (
		file, to, reason, reasonCode, text, status, receiver, outcome, format string
		submit                                                                bool
		answerRecords                                                         stringList
	)
	switch verb {
	case "create":
		fs.StringVar(&file, "file", "", "referral JSON (see testdata/referral.json); - for standard input")
		fs.BoolVar(&submit, "submit", false, "submit at once (overrides the file's submit field when set)")
	case "list":
		fs.StringVar(&status, "status", "", "comma-separated statuses to show")
		fs.StringVar(&receiver, "receiver", "", "receiver directory id")
	case "transition":
		fs.StringVar(&to, "to", "", "target status: accepted, rejected, on-hold, in-progress, completed, cancelled")
		fs.StringVar(&reasonCode, "reason-code", "", "reason code")
		fs.StringVar(&reason, "reason", "", "reason text (required to reject or cancel)")
		fs.StringVar(&text, "question", "", "the question, for on-hold")
		fs.StringVar(&outcome, "outcome", "", "the consult note reference or summary, for completed")
	case "answer":
		fs.StringVar(&text, "answer", "", "the referrer's answer to the on-hold question")
		fs.Var(&answerRecords, "record", "a file that answers the question, sent with the answer on the referral's channel (repeatable)")
	case "override":
		fs.StringVar(&reason, "reason", "", "why the identifiers are necessary")
	case "replace":
		fs.StringVar(&receiver, "to", "", "directory id of the new receiver")
		fs.BoolVar(&submit, "submit", true, "submit the replacement at once")
	case "reverse":
		fs.StringVar(&receiver, "to", "", "directory id to refer onward to (default: back to the original referrer)")
		fs.StringVar(&reasonCode, "reason-code", "", "SNOMED CT code of the new reason (default: the original reason)")
		fs.StringVar(&text, "reason", "", "free-text reason for the referral back or onward")
		fs.StringVar(&file, "consent", "", "id of the authorization or Part 2 consent the new referrer holds, when the basis needs one")
		fs.BoolVar(&submit, "submit", true, "submit the new referral at once")
	case "receipt":
		fs.StringVar(&format, "format", "text", "text, html, json, fhir (Provenance + AuditEvent bundle) or pdf")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	needID := verb != "create" && verb != "list"
	if needID && len(rest) != 1 {
		return usagef("referral %s REFERRAL-ID", verb)
	}
	var n referralFile
	if verb == "create" {
		b, err := readInput(file)
		if err != nil {
			return err
		}
		if err := strictJSON(b, &n); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for _, r := range n.Records {
			rec := r.NewRecord
			if r.Path != "" {
				p := r.Path
				if !filepath.IsAbs(p) && file != "-" {
					p = filepath.Join(filepath.Dir(file), p)
				}
				if rec.Content, err = os.ReadFile(p); err != nil {
					return fmt.Errorf("record %q: %w", rec.Title, err)
				}
			}
			n.NewReferral.Records = append(n.NewReferral.Records, rec)
		}
		if fs.Lookup("submit") != nil && flagSet(fs, "submit") {
			n.Submit = submit
		}
	}
	a, err := openApp(ctx, cfg, stdout, stderr, cliChannels(cfg)...)
	if err != nil {
		return err
	}
	defer a.Close()
	actor := gateway.Actor{ID: cliActor(*actorName).ID, OrgID: *org}

	var r *gateway.Referral
	switch verb {
	case "create":
		if actor.OrgID == "" {
			actor.OrgID = n.Requester.OrgID
		}
		r, err = a.svc.CreateReferral(ctx, actor, n.NewReferral)
	case "submit":
		r, err = a.svc.Submit(ctx, actor, rest[0])
	case "show":
		return showReferral(ctx, a, rest[0], stdout)
	case "receipt":
		return writeReceipt(ctx, a, rest[0], format, stdout)
	case "reverse":
		if actor.OrgID == "" {
			orig, _, err := a.svc.Referral(ctx, rest[0])
			if err != nil {
				return err
			}
			actor.OrgID = orig.ReceiverOrgID
		}
		in := gateway.ReverseInput{ReceiverID: receiver, ReasonText: text, ConsentID: file, Submit: submit}
		if reasonCode != "" {
			in.Reason = gateway.Coding{System: "http://snomed.info/sct", Code: reasonCode}
		}
		r, err = a.svc.Reverse(ctx, actor, rest[0], in)
	case "list":
		q := gateway.ReferralQuery{ReceiverID: receiver, Limit: 200}
		for _, s := range strings.Split(status, ",") {
			if s != "" {
				q.Statuses = append(q.Statuses, gateway.Status(s))
			}
		}
		lctx := gateway.GatewayWide(ctx, "cli")
		if *org != "" {
			lctx = gateway.WithPractice(ctx, *org)
		}
		list, err := a.svc.ListReferrals(lctx, q)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tFROM\tTO\tPRIORITY\tUPDATED")
		for _, r := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Requester.OrgID, r.ReceiverID, r.Priority, r.Updated.Format(time.DateTime))
		}
		return tw.Flush()
	case "transition":
		if to == "" {
			return usagef("--to is required")
		}
		in := gateway.TransitionInput{Reason: gateway.Coding{Code: reasonCode}, ReasonText: reason, Question: text}
		if outcome != "" {
			in.Outcome = &gateway.Outcome{Summary: outcome}
			if strings.Contains(outcome, "/") && !strings.Contains(outcome, " ") {
				in.Outcome = &gateway.Outcome{Reference: outcome}
			}
		}
		if gateway.Status(to) != gateway.StatusCancelled {
			actor.As = gateway.SideReceiver
		} else {
			actor.As = gateway.SideReferrer
		}
		r, err = a.svc.Transition(ctx, actor, rest[0], gateway.Status(to), in)
	case "answer":
		recs, rerr := recordFiles(answerRecords)
		if rerr != nil {
			return rerr
		}
		r, err = a.svc.AnswerHold(ctx, actor, rest[0], text, recs...)
	case "override":
		r, err = a.svc.OverrideMinimumNecessary(ctx, actor, rest[0], reason)
	case "replace":
		if receiver == "" {
			return usagef("--to RECEIVER-ID is required")
		}
		r, err = a.svc.Replace(ctx, actor, rest[0], receiver, submit)
	}
	if r != nil {
		fmt.Fprintf(stdout, "referral %s: %s (version %d)\n", r.ID, r.Status, r.Version)
		if r.Blocked != "" {
			fmt.Fprintf(stdout, "  held in draft: %s\n", r.Blocked)
		}
	}
	return err
}

func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// showReferral prints the lifecycle and deliveries of one referral.
func showReferral(ctx context.Context, a *app, id string, w io.Writer) error {
	r, ds, err := a.svc.Referral(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Referral %s\n  status:    %s (version %d)\n  from:      %s\n  to:        %s\n  priority:  %s\n  reason:    %s %s\n  consent:   %s\n  records:   %d\n",
		r.ID, r.Status, r.Version, r.Requester.OrgID, r.ReceiverID, r.Priority, r.Reason.Code, r.Reason.Display, r.Consent.Kind, len(r.Records))
	for label, v := range map[string]string{"blocked": r.Blocked, "failed": r.FailureReason, "question": r.Question,
		"answer": r.Answer, "replaces": r.Replaces, "replaced by": r.ReplacedBy, "business": r.BusinessStatus} {
		if v != "" {
			fmt.Fprintf(w, "  %-10s %s\n", label+":", v)
		}
	}
	if r.Outcome != nil {
		fmt.Fprintf(w, "  outcome:   %s %s\n", r.Outcome.Reference, r.Outcome.Summary)
	}
	fmt.Fprintln(w, "\nLifecycle")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range r.History {
		fmt.Fprintf(tw, "  %s\t%s → %s\t%s\t%s\n", t.At.Format(time.DateTime), t.From, t.To, t.Actor, strings.TrimSpace(t.ReasonCode+" "+t.ReasonText))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nDeliveries")
	if len(ds) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, d := range ds {
		fmt.Fprintf(w, "  %s  %-6s %-9s attempts=%d remote=%s\n", d.ID, d.Channel, d.State, d.Attempts, dash(d.RemoteID))
		if d.LastError != "" {
			fmt.Fprintf(w, "      last error: %s\n", d.LastError)
		}
		for _, rc := range d.Receipts {
			fmt.Fprintf(w, "      receipt %s at %s %s\n", rc.Kind, rc.At.Format(time.DateTime), rc.Detail)
		}
	}
	return nil
}

// recordFiles reads files given with --record as records, typed by their
// extension or, failing that, by sniffing their content.
func recordFiles(paths []string) ([]gateway.NewRecord, error) {
	var out []gateway.NewRecord
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", p, err)
		}
		ct := mime.TypeByExtension(filepath.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(b)
		}
		out = append(out, gateway.NewRecord{Title: filepath.Base(p), ContentType: ct, Content: b})
	}
	return out, nil
}
