package inbound

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// handle opens m and works out what it means: a receipt for its delivery,
// a reply to its referral, anything else new mail in the practice's inbox.
// Every verified message but a receipt is answered with a processed MDN,
// and, when the sender asked for final delivery, with a dispatched one if
// the message was made available (matched to a referral, or in the inbox
// of a known practice) or a failed one if it was quarantined after its
// sender was authenticated. A *Refusal quarantines m; any other error
// retries.
func (p *Processor) handle(ctx context.Context, m *inMessage) (gateway.InboundOutcome, error) {
	if err := p.open(ctx, m); err != nil {
		var ref *Refusal
		if errors.As(err, &ref) && ref.Reason == ReasonNotEncrypted {
			if out, ok, err := p.plainReport(ctx, m); ok {
				return out, err // never an MDN for a report
			}
		}
		return gateway.InboundOutcome{}, err
	}
	var out gateway.InboundOutcome
	rep, err := mdn.Parse(m.entity)
	switch {
	case err == nil:
		m.kind = "report"
		if out, err = p.applyReport(ctx, m, rep); err != nil {
			return out, err
		}
		return p.flagRevocation(m, out), nil // never an MDN for an MDN
	case errors.Is(err, mdn.ErrMalformed):
		// A report we cannot read is still a report: not answered.
		m.kind = "report"
		return out, &Refusal{Reason: ReasonMalformed, Err: err}
	}
	in, perr := message.Parse(m.entity)
	if perr != nil {
		return out, &Refusal{Reason: ReasonMalformed, Err: errors.Join(err, perr)}
	}
	m.summary, m.in = summaryOf(in), in
	out, reached, applyErr := p.applyMessage(ctx, m, in)
	var (
		ref     *Refusal
		failure string
	)
	switch {
	case errors.As(applyErr, &ref):
		out, reached, failure = p.refusal(m, ref), false, failureText(ref.Reason)
	case applyErr != nil:
		return out, applyErr
	}
	notices, events, err := p.mdns(ctx, m, in, reached, failure)
	if err != nil {
		return out, err
	}
	out.Notices = append(out.Notices, notices...)
	out.Events = append(out.Events, events...)
	return p.flagRevocation(m, out), nil
}

// flagRevocation records in out that m was accepted without a revocation
// verdict (by policy or an operator's release).
func (p *Processor) flagRevocation(m *inMessage, out gateway.InboundOutcome) gateway.InboundOutcome {
	if !m.revocationUnknown {
		return out
	}
	why := "policy " + string(p.cfg.RevocationPolicy)
	if m.stored.Released {
		why = "operator release: " + m.stored.Decision
	}
	out.Applied = strings.TrimPrefix(out.Applied+"; revocation unknown, accepted by "+why, "; ")
	out.Events = append(out.Events, audit.Event{Actor: "system", ReferralID: out.ReferralID,
		Action: "direct.revocation-unknown-accepted", Outcome: audit.OutcomeSuccess,
		Detail: clean(map[string]string{"inbound": m.id, "signer": m.signerName(), "by": why})})
	return out
}

// applyReport turns an MDN or DSN about one of our messages into a
// delivery receipt; one we cannot correlate stays unmatched in the inbox.
// Only the address the referral went to (or one the directory lists for
// that party) may report on it.
func (p *Processor) applyReport(ctx context.Context, m *inMessage, rep *mdn.Report) (gateway.InboundOutcome, error) {
	rep0 := rep
	out := gateway.InboundOutcome{Kind: "report", From: m.from, Signer: m.signerName()}
	d, err := p.deliveryFor(ctx, rep.OriginalMessageID)
	if err != nil {
		return out, err
	}
	if d == nil {
		if n, err := p.svc.Notice(ctx, rep.OriginalMessageID); err == nil && n.Disposition == "reply" && strings.EqualFold(n.To, m.from) {
			// A receipt for a reply we sent: it matches that reply, if it
			// is about the address the reply went to.
			if _, ok := rep.About(func(a string) bool { return strings.EqualFold(a, n.To) }); !ok {
				m.referralID, m.tenants = n.ReferralID, n.Tenants
				return out, &Refusal{Reason: ReasonRecipientNotSent,
					Err: fmt.Errorf("%s %s about reply %s names no recipient that reply went to", reportKind(rep.Kind), rep.MessageID, n.ID)}
			}
			out.State, out.ReferralID, out.Applied = gateway.InboundMatched, n.ReferralID, string(rep.Kind)+" "+string(rep.Disposition)+" for our reply"
			out.Events = []audit.Event{{Actor: "system", ReferralID: n.ReferralID, Action: "direct.reply-receipt", Outcome: audit.OutcomeSuccess,
				Detail: clean(map[string]string{"inbound": m.id, "reply": n.ID, "disposition": string(rep.Disposition), "from": m.from})}}
			return out, nil
		} else if err != nil && !errors.Is(err, gateway.ErrNotFound) {
			return out, err
		}
		out.State, out.Applied = gateway.InboundUnmatched, "unmatched "+string(rep.Kind)
		out.Events = []audit.Event{{Actor: "system", Action: "direct.report-unmatched", Outcome: audit.OutcomeFailure,
			Detail: clean(map[string]string{"inbound": m.id, "kind": string(rep.Kind), "originalMessageId": rep.OriginalMessageID, "from": m.from})}}
		return out, nil
	}
	r, _, err := p.svc.Referral(ctx, d.ReferralID)
	if err != nil {
		return out, err
	}
	m.referralID, m.tenants = r.ID, []string{r.Requester.OrgID}
	receiver, ok, err := p.fromParty(ctx, r.ReceiverID, m.from)
	if err != nil {
		return out, err
	}
	if !ok && rep.Kind == mdn.KindDSN {
		// A DSN is the receiving HISP's mail system speaking, which signs
		// as its postmaster (RFC 5321 section 4.5.1) with the domain's
		// certificate (open checked the binding).
		ok, err = p.fromPartyMailSystem(ctx, r.ReceiverID, m.from)
		if err != nil {
			return out, err
		}
	}
	if !ok {
		return out, &Refusal{Reason: ReasonNotReceiver,
			Err: fmt.Errorf("%s reported on delivery %s but the referral went to another address", m.from, d.ID)}
	}
	// A report names the recipients it is about; the delivery went to one
	// address. Only what the report says about that address counts.
	addrs, err := p.partyAddresses(ctx, r.ReceiverID)
	if err != nil {
		return out, err
	}
	rep, ok = rep.About(func(a string) bool {
		return slices.ContainsFunc(addrs, func(b string) bool { return strings.EqualFold(a, b) })
	})
	if !ok {
		return out, &Refusal{Reason: ReasonRecipientNotSent,
			Err: fmt.Errorf("%s %s about delivery %s names no recipient that delivery went to", reportKind(rep0.Kind), rep0.MessageID, d.ID)}
	}
	rc, extend := p.receipt(rep, receiver)
	rc.RemoteID = rep.OriginalMessageID // recorded when the send's recording has not happened
	out.State, out.ReferralID, out.DeliveryID, out.Tenants = gateway.InboundMatched, r.ID, d.ID, m.tenants
	out.Receipt, out.Extend = &rc, extend
	out.Applied = "receipt " + string(rc.Kind)
	out.Events = []audit.Event{{Actor: "system", ReferralID: r.ID, Action: "direct.receipt", Outcome: audit.OutcomeSuccess,
		Detail: clean(map[string]string{"inbound": m.id, "delivery": d.ID, "report": string(rep.Kind),
			"disposition": string(rep.Disposition), "receipt": string(rc.Kind), "reportId": rep.MessageID, "from": m.from})}}
	p.log.InfoContext(ctx, "direct receipt", "inbound", m.id, "delivery", d.ID, "kind", string(rc.Kind))
	return out, nil
}

// receipt maps a report onto the core's receipt and the deadline extension
// that waits for the dispatched MDN. A receiver the directory marks as
// sending processed MDNs only is delivered by the processed one.
func (p *Processor) receipt(rep *mdn.Report, receiver *gateway.Entry) (gateway.Receipt, time.Duration) {
	now := p.now()
	processedOnly, dispatchedWithin := false, p.ch.DispatchedWithin
	if receiver != nil && receiver.Direct != nil {
		processedOnly = receiver.Direct.ProcessedOnly
		if n := receiver.Direct.DispatchedWithinMinutes; n > 0 {
			dispatchedWithin = time.Duration(n) * time.Minute
		}
	}
	switch {
	case rep.Failed():
		return gateway.Receipt{Kind: gateway.ReceiptFailed, At: now, Final: true,
			Detail: string(rep.Kind) + " failed: " + cleanRemote(rep.Reason)}, 0
	case rep.Kind == mdn.KindDSN:
		// A delivered, relayed or expanded DSN shows progress, not final
		// delivery; a delayed one says the reporting MTA is still trying
		// (RFC 3464: transient, not a failure). Neither moves the deadline.
		return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now, Detail: dsnDetailPrefix + dsnAction(rep)}, 0
	case rep.Disposition == mdn.Processed:
		if p.ch.FinalDelivery() && !processedOnly {
			return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now, Detail: "mdn processed"}, dispatchedWithin
		}
		return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now, Final: true, Detail: "mdn processed"}, 0
	case rep.Disposition == mdn.Dispatched && p.ch.FinalDelivery() && !processedOnly && !rep.FinalDelivery:
		// We asked for final delivery notification: the guide's receiving
		// HISP answers it with a dispatched MDN that carries the
		// X-DIRECT-FINAL-DESTINATION-DELIVERY field. One without it (a
		// user agent's, or a HISP that does not take part) proves the
		// receiving side has the message, as processed does, not that it
		// reached its final destination: the wait for the real one stands.
		return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now,
			Detail: "mdn dispatched without " + mdn.FinalDeliveryField}, dispatchedWithin
	case rep.Disposition == mdn.Dispatched, rep.Disposition == mdn.Displayed:
		return gateway.Receipt{Kind: gateway.ReceiptDispatched, At: now, Final: true, Detail: "mdn " + string(rep.Disposition)}, 0
	case rep.Disposition == mdn.Deleted:
		return gateway.Receipt{Kind: gateway.ReceiptFailed, At: now, Final: true, Detail: "mdn deleted"}, 0
	}
	return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now, Detail: "mdn " + cleanRemote(string(rep.Disposition))}, 0
}

// dsnDetailPrefix starts the detail of a receipt a DSN recorded as
// progress: such a receipt is no acknowledgement by the receiving HISP.
const dsnDetailPrefix = "dsn "

// dsnAction is the action a DSN reports for our recipient, for the trail.
func dsnAction(rep *mdn.Report) string {
	if a := rep.Action(); a != "" {
		return string(a)
	}
	return "report"
}

// reportKind names a report kind in refusal texts.
func reportKind(k mdn.Kind) string {
	if k == mdn.KindDSN {
		return "DSN"
	}
	return "MDN"
}

// cleanRemote keeps remote text fit for a trail field: printable and short.
func cleanRemote(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return gateway.Truncate(strings.TrimSpace(s), 200)
}

// summaryOf is what the inbox shows of a message (sealed at rest).
func summaryOf(in *message.Inbound) *gateway.InboundSummary {
	s := &gateway.InboundSummary{Subject: gateway.Truncate(in.Subject, 300)}
	for _, a := range in.Attachments {
		mt, _, err := mime.ParseMediaType(a.ContentType)
		if err != nil {
			mt = "application/octet-stream"
		}
		s.Attachments = append(s.Attachments, gateway.InboundAttachment{Name: a.Filename, ContentType: mt, Size: len(a.Content)})
	}
	return s
}

// deliveryFor finds our Direct delivery whose message has the Message-ID
// msgID; nil when there is none. The send records the Message-ID on the
// delivery only after the SMTP send returned, so a receipt that overtakes
// that (a fast receiver, or a send whose recording a crash cut short) is
// matched by the delivery id the Message-ID is derived from
// (channel.MessageID), and records the Message-ID itself.
func (p *Processor) deliveryFor(ctx context.Context, msgID string) (*gateway.Delivery, error) {
	if msgID == "" {
		return nil, nil
	}
	d, err := p.svc.DeliveryByRemoteID(ctx, gateway.ChannelDirect, msgID)
	if err == nil {
		return d, nil
	}
	if !errors.Is(err, gateway.ErrNotFound) {
		return nil, err
	}
	local, domain, ok := strings.Cut(msgID, "@")
	if !ok || !p.ch.Ours("x@"+domain) || local == "" {
		return nil, nil
	}
	d, err = p.svc.Delivery(ctx, local)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case d.Channel != gateway.ChannelDirect:
		return nil, nil
	}
	return d, nil
}
