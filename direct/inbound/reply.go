package inbound

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// applyMessage applies a reply to its referral or keeps the message in the
// inbox, and reports whether it reached its destination.
func (p *Processor) applyMessage(ctx context.Context, m *inMessage, in *message.Inbound) (bool, error) {
	r, err := p.matchReferral(ctx, in)
	if err != nil {
		return false, err
	}
	if r == nil {
		tenants, err := p.tenantsFor(ctx, m.env.RcptTo)
		if err != nil {
			return false, err
		}
		m.tenants = tenants
		it := m.item("message")
		it.InReplyTo, it.ContentTypes, it.Applied = in.InReplyTo, contentTypes(in), "stored"
		if err := p.inbox.Put(it, m.raw); err != nil {
			return false, err
		}
		return true, p.audit(ctx, tenants, "", "direct.inbound-stored", audit.OutcomeSuccess, map[string]string{
			"spool": m.id, "messageId": m.msgID, "from": m.from, "attachments": fmt.Sprint(len(in.Attachments))})
	}
	m.referralID, m.tenants = r.ID, []string{r.Requester.OrgID}
	ok, err := p.fromParty(ctx, r.ReceiverID, m.from)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, &Refusal{Reason: ReasonNotReceiver,
			Err: fmt.Errorf("%s replied to referral %s but is not its receiver", m.from, r.ID)}
	}
	applied, err := p.applyReply(ctx, m, r, in)
	if err != nil {
		return false, err
	}
	it := m.item("reply")
	it.InReplyTo, it.ContentTypes, it.Applied = in.InReplyTo, contentTypes(in), applied
	if err := p.inbox.Put(it, m.raw); err != nil {
		return false, err
	}
	return true, p.audit(ctx, m.tenants, r.ID, "direct.reply", audit.OutcomeSuccess, map[string]string{
		"spool": m.id, "messageId": m.msgID, "from": m.from, "applied": applied, "attachments": fmt.Sprint(len(in.Attachments))})
}

// applyReply carries out the command on the reply's first line. Documents
// attached to a reply are kept with it in the inbox: the core has no call
// that adds a record to a referral after it was created.
func (p *Processor) applyReply(ctx context.Context, m *inMessage, r *gateway.Referral, in *message.Inbound) (string, error) {
	cmd, rest := command(in.Text)
	actor := gateway.Actor{ID: "direct:" + strings.ToLower(m.from), OrgID: r.ReceiverOrgID, As: gateway.SideReceiver}
	applied := "stored"
	var (
		to    gateway.Status
		input gateway.TransitionInput
	)
	switch cmd {
	case "accept":
		to, input.ReasonText = gateway.StatusAccepted, "accepted by Direct reply"
	case "decline":
		to, input.ReasonText = gateway.StatusRejected, rest
		if input.ReasonText == "" {
			input.ReasonText = "declined by Direct reply"
		}
	}
	if to != "" {
		_, err := p.svc.Transition(ctx, actor, r.ID, to, input)
		var te *gateway.TransitionError
		switch {
		case err == nil:
			applied = string(to)
		case errors.As(err, &te) && r.Status == to:
			applied = string(to) + " (already)" // a rerun after a crash
		case refusedByCore(err):
			applied = "refused: " + truncate(err.Error(), 200)
		default:
			return "", err
		}
	}
	if n := len(in.Attachments); n > 0 {
		applied += fmt.Sprintf("; %d document(s) kept", n)
	}
	return applied, nil
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
		case "decline", "declined", "reject", "rejected":
			parts := []string{strings.TrimLeft(strings.TrimSpace(tail), ".,:;!- ")}
			for _, l := range lines[i+1:] {
				if strings.HasPrefix(l, ">") || (strings.HasPrefix(l, "On ") && strings.HasSuffix(strings.TrimSpace(l), "wrote:")) {
					break
				}
				parts = append(parts, l)
			}
			return "decline", truncate(strings.TrimSpace(strings.Join(parts, "\n")), 1000)
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
