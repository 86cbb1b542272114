package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/referralgw/gateway/gateway"
)

// cmdInbox shows received Direct mail and decides quarantined messages.
// A release queues the message's processing again; a running `serve`
// processes it.
func cmdInbox(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "list", "show", "release", "reject")
	if err != nil {
		return err
	}
	fs := newFlags("inbox "+verb, &cfg, stderr, storeFlags)
	var (
		state, practice, reason string
		asJSON                  bool
		limit                   int
	)
	actor := fs.String("actor", os.Getenv("USER"), "who decides (recorded in the audit trail)")
	switch verb {
	case "list":
		fs.StringVar(&state, "state", "", "received, new, matched, unmatched, quarantined or rejected")
		fs.StringVar(&practice, "practice", "", "the practice (directory id) the mail is for")
		fs.IntVar(&limit, "limit", 50, "at most this many, newest first")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	case "show":
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	default:
		fs.StringVar(&reason, "reason", "", "why (required; audited)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if verb != "list" && len(rest) != 1 {
		return usagef("inbox %s takes one message id", verb)
	}
	if verb == "list" && state != "" && !gateway.ValidInboundState(gateway.InboundState(state)) {
		return usagef("--state %q: one of received, new, matched, unmatched, quarantined, rejected", state)
	}
	if (verb == "release" || verb == "reject") && strings.TrimSpace(reason) == "" {
		return usagef("--reason is required")
	}
	a, err := openApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	switch verb {
	case "list":
		list, err := a.svc.ListInbound(ctx, gateway.InboundQuery{State: gateway.InboundState(state), Tenant: practice, Limit: limit})
		if err != nil {
			return err
		}
		if asJSON {
			if list == nil {
				list = []*gateway.InboundMessage{}
			}
			return printJSON(stdout, list)
		}
		return printInbox(stdout, list)
	case "show":
		m, err := a.svc.Inbound(ctx, rest[0])
		if err != nil {
			return err
		}
		ns, err := a.svc.Notices(ctx, m.ID)
		if err != nil {
			return err
		}
		if asJSON {
			if ns == nil {
				ns = []*gateway.Notice{}
			}
			return printJSON(stdout, map[string]any{"message": m, "notices": ns})
		}
		return printInboxEntry(stdout, m, ns)
	case "release":
		m, err := a.svc.ReleaseInbound(ctx, cliActor(*actor), rest[0], reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "inbound message %s released: processing is queued again\n", m.ID)
	case "reject":
		m, err := a.svc.RejectInbound(ctx, cliActor(*actor), rest[0], reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "inbound message %s rejected; it stays stored\n", m.ID)
	}
	return nil
}

func printInbox(w io.Writer, list []*gateway.InboundMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tSTATE\tKIND\tFROM\tTO\tSUBJECT\tREFERRAL\tREASON")
	for _, m := range list {
		from := m.From
		if from == "" {
			from = m.MailFrom
		}
		subject := ""
		if m.Summary != nil {
			subject = m.Summary.Subject
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Received.UTC().Format("2006-01-02 15:04:05"), m.State,
			dash(m.Kind), dash(from), dash(strings.Join(m.RcptTo, ",")), dash(subject), dash(m.ReferralID), dash(m.Reason))
	}
	return tw.Flush()
}

func printInboxEntry(w io.Writer, m *gateway.InboundMessage, ns []*gateway.Notice) error {
	fmt.Fprintf(w, "Message     %s (%s%s)\n", m.ID, m.State, parens(m.Kind))
	fmt.Fprintf(w, "Received    %s from %s, TLS %v\n", m.Received.UTC().Format("2006-01-02 15:04:05 MST"), dash(m.RemoteIP), m.TLS)
	fmt.Fprintf(w, "Sender      %s (envelope %s, signer %s)\n", dash(m.From), dash(m.MailFrom), dash(m.Signer))
	fmt.Fprintf(w, "Recipients  %s\n", dash(strings.Join(m.RcptTo, ", ")))
	fmt.Fprintf(w, "Message-ID  %s\n", dash(m.MessageID))
	if m.Summary != nil {
		fmt.Fprintf(w, "Subject     %s\n", dash(m.Summary.Subject))
		for _, a := range m.Summary.Attachments {
			fmt.Fprintf(w, "Attachment  %s (%s, %d bytes)\n", dash(a.Name), a.ContentType, a.Size)
		}
	}
	if m.ReferralID != "" {
		fmt.Fprintf(w, "Referral    %s%s\n", m.ReferralID, parens("delivery "+m.DeliveryID))
	}
	if m.Applied != "" {
		fmt.Fprintf(w, "Applied     %s\n", m.Applied)
	}
	if m.Reason != "" {
		fmt.Fprintf(w, "Refused     %s: %s\n", m.Reason, m.Error)
	}
	if m.Duplicates > 0 {
		fmt.Fprintf(w, "Copies      received %d more time(s), applied once\n", m.Duplicates)
	}
	if m.DecisionBy != "" {
		fmt.Fprintf(w, "Decision    %s: %s\n", m.DecisionBy, m.Decision)
	}
	for _, n := range ns {
		fmt.Fprintf(w, "MDN         %s to %s: %s, sent %d time(s) %s\n", n.Disposition, n.To, n.State, n.Sends, n.Reply+n.Error)
	}
	return nil
}

func parens(s string) string {
	if s == "" || s == "delivery " {
		return ""
	}
	return ", " + s
}
