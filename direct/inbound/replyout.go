package inbound

import (
	"context"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// Reply answers a received message on behalf of the practice it was for:
// text from our address from, signed with our key and encrypted for the
// certificate that signed the original (or the sender's, see answerCert), In-Reply-To its Message-ID. It is
// queued as a notice job (sent once, retried on temporary failures) and
// tracked, so the MDNs the other side sends for it match it. It returns the
// reply's Message-ID.
func (p *Processor) Reply(ctx context.Context, actor gateway.Actor, inboundID, from, text string) (string, error) {
	if !p.ch.Ours(from) {
		return "", &gateway.ValidationError{Field: "from", Reason: from + " is not an address of ours"}
	}
	st, raw, err := p.svc.InboundRaw(ctx, inboundID)
	if err != nil {
		return "", err
	}
	m := &inMessage{id: st.ID, stored: st, raw: raw, tenants: st.Tenants}
	if err := p.open(ctx, m); err != nil {
		return "", fmt.Errorf("direct reply to %s: %w", inboundID, err)
	}
	in, err := message.Parse(m.entity)
	if err != nil {
		return "", fmt.Errorf("direct reply to %s: %w", inboundID, err)
	}
	subject := in.Subject
	if !strings.HasPrefix(strings.ToLower(subject), "re:") {
		subject = "Re: " + subject
	}
	id := message.NewMessageID(channel.Domain(from))
	entity, err := message.Compose(message.Outbound{From: from, To: []string{m.from}, Subject: subject, MessageID: id,
		InReplyTo: in.MessageID, References: append(in.References, in.MessageID), Date: p.now().UTC().Truncate(1e9),
		SummaryText: text, DispositionNotificationTo: from})
	if err != nil {
		return "", fmt.Errorf("direct reply to %s: %w", inboundID, err)
	}
	encryptFor, err := p.answerCert(ctx, m)
	if err != nil {
		return "", fmt.Errorf("direct reply to %s: %w", inboundID, err)
	}
	// The subject we answer may have come encrypted: outside, the reply
	// shows only what the sender showed outside its own message.
	wire, err := p.cfg.Channel.SealWithOuterSubject(from, encryptFor, entity, replySubject(headerSubject(m.raw)))
	if err != nil {
		return "", fmt.Errorf("direct reply to %s: %w", inboundID, err)
	}
	if _, err := p.svc.QueueNotice(ctx, actor, gateway.Notice{ID: id, InboundID: inboundID, Disposition: "reply",
		From: from, To: m.from, Wire: wire}); err != nil {
		return "", err
	}
	return id, nil
}

// replySubject is "Re: " and subject (at most 200 bytes of it) without its
// own reply prefixes, or "Re: Direct message" when subject is empty.
func replySubject(subject string) string {
	subject = strings.TrimSpace(subject)
	for {
		lower := strings.ToLower(subject)
		if !strings.HasPrefix(lower, "re:") {
			break
		}
		subject = strings.TrimSpace(subject[3:])
	}
	if subject == "" {
		subject = "Direct message"
	}
	return "Re: " + gateway.Truncate(subject, 200)
}
