package inbound

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// applyMessage works out what a verified message means: a reply to one of
// our referrals (its command and attachments applied to the referral) or
// new mail for the inbox. reached reports whether it was made available:
// matched to a referral, or in the inbox of a practice we know.
func (p *Processor) applyMessage(ctx context.Context, m *inMessage, in *message.Inbound) (out gateway.InboundOutcome, reached bool, err error) {
	m.kind = "message"
	out = gateway.InboundOutcome{Kind: "message", From: m.from, Signer: m.signerName(), Summary: m.summary}
	r, err := p.matchReferral(ctx, in)
	if err != nil {
		return out, false, err
	}
	if r == nil {
		out.State, out.Applied = gateway.InboundNew, "stored"
		out.Events = []audit.Event{{Actor: "system", Action: "direct.inbound-stored", Outcome: audit.OutcomeSuccess,
			Detail: clean(map[string]string{"inbound": m.id, "messageId": m.msgID, "from": m.from,
				"attachments": fmt.Sprint(len(in.Attachments))})}}
		known := len(m.tenants) > 0 && !slices.Contains(m.tenants, UnknownTenant)
		return out, known, nil
	}
	m.kind, out.Kind = "reply", "reply"
	m.referralID, m.tenants = r.ID, []string{r.Requester.OrgID}
	if _, ok, err := p.fromParty(ctx, r.ReceiverID, m.from); err != nil {
		return out, false, err
	} else if !ok {
		return out, false, &Refusal{Reason: ReasonNotReceiver,
			Err: fmt.Errorf("%s replied to referral %s but the referral went to another address", m.from, r.ID)}
	}
	out.State, out.ReferralID, out.Tenants = gateway.InboundMatched, r.ID, m.tenants
	out.Actor = gateway.Actor{ID: "direct:" + strings.ToLower(m.from), OrgID: r.ReceiverOrgID, As: gateway.SideReceiver}
	applied := "stored"
	cmd, rest := command(in.Text)
	switch cmd {
	case "accept":
		out.To, out.Input.ReasonText = gateway.StatusAccepted, "accepted by Direct reply"
	case "question":
		out.To, out.Input.Question = gateway.StatusOnHold, rest
		if rest == "" {
			out.Input.Question = "more information requested by Direct reply"
		}
	case "decline":
		out.To, out.Input.ReasonText = gateway.StatusRejected, rest
		if out.Input.ReasonText == "" {
			out.Input.ReasonText = "declined by Direct reply"
		}
	}
	switch {
	case out.To != "" && r.Status == out.To:
		applied, out.To = string(r.Status)+" (already)", ""
	case out.To != "":
		applied = string(out.To)
	}
	for _, a := range in.Attachments {
		mt, _, err := mime.ParseMediaType(a.ContentType)
		if err != nil || len(a.Content) == 0 {
			continue
		}
		title := a.Filename
		if title == "" {
			title = "Direct reply attachment"
		}
		out.Records = append(out.Records, gateway.NewRecord{Title: title, ContentType: mt, Content: a.Content})
	}
	if n := len(out.Records); n > 0 {
		applied += fmt.Sprintf("; %d document(s) attached to the referral", n)
	}
	out.Applied = applied
	out.Events = []audit.Event{{Actor: "system", ReferralID: r.ID, Action: "direct.reply", Outcome: audit.OutcomeSuccess,
		Detail: clean(map[string]string{"inbound": m.id, "messageId": m.msgID, "from": m.from, "applied": applied,
			"attachments": fmt.Sprint(len(in.Attachments))})}}
	return out, true, nil
}

// command reads the first non-empty line of a reply: "accept(ed)" or
// "decline(d)"/"reject(ed)", the latter followed by the reason (the rest of
// that line and the lines after it, up to the quoted original).
func command(text string) (cmd, rest string) {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		word, tail, _ := strings.Cut(line, " ")
		switch strings.ToLower(strings.TrimRight(word, ".,:;!-")) {
		case "accept", "accepted":
			return "accept", ""
		case "question", "more-info", "info":
			return "question", replyText(tail, lines[i+1:])
		case "decline", "declined", "reject", "rejected":
			parts := []string{strings.TrimLeft(strings.TrimSpace(tail), ".,:;!- ")}
			for _, l := range lines[i+1:] {
				if strings.HasPrefix(l, ">") || (strings.HasPrefix(l, "On ") && strings.HasSuffix(strings.TrimSpace(l), "wrote:")) {
					break
				}
				parts = append(parts, l)
			}
			return "decline", gateway.Truncate(strings.TrimSpace(strings.Join(parts, "\n")), 1000)
		}
		return "", ""
	}
	return "", ""
}

// matchReferral finds the referral a message answers: by the Message-ID it
// replies to, else by the [ref:<id>] token of its subject.
func (p *Processor) matchReferral(ctx context.Context, in *message.Inbound) (*gateway.Referral, error) {
	for _, id := range append([]string{in.InReplyTo}, in.References...) {
		if id == "" {
			continue
		}
		d, err := p.deliveryFor(ctx, id)
		if err != nil {
			return nil, err
		}
		if d == nil {
			continue
		}
		r, _, err := p.svc.Referral(ctx, d.ReferralID)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	if id, ok := channel.ReferralToken(in.Subject); ok {
		r, _, err := p.svc.Referral(ctx, id)
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, nil
}

// replyText is the text of a reply command: the rest of its line and the
// lines after it, up to the quoted message the reply answers.
func replyText(tail string, after []string) string {
	parts := []string{strings.TrimLeft(strings.TrimSpace(tail), ".,:;!- ")}
	for _, l := range after {
		if strings.HasPrefix(l, ">") || (strings.HasPrefix(l, "On ") && strings.HasSuffix(strings.TrimSpace(l), "wrote:")) {
			break
		}
		parts = append(parts, l)
	}
	return gateway.Truncate(strings.TrimSpace(strings.Join(parts, "\n")), 1000)
}
