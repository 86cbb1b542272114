package inbound

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// handle opens m and applies it: a receipt to its delivery, a reply to its
// referral, anything else to the inbox. A *Refusal sends m to quarantine;
// any other error leaves m in the spool for the next pass.
func (p *Processor) handle(ctx context.Context, m *inMessage) error {
	if err := p.open(ctx, m); err != nil {
		return err
	}
	rep, err := mdn.Parse(m.entity)
	if err == nil {
		return p.applyReport(ctx, m, rep) // never an MDN for an MDN
	}
	in, perr := message.Parse(m.entity)
	if perr != nil {
		return &Refusal{Reason: ReasonMalformed, Err: errors.Join(err, perr)}
	}
	reached, applyErr := p.applyMessage(ctx, m, in)
	var ref *Refusal
	if applyErr != nil && !errors.As(applyErr, &ref) {
		return applyErr
	}
	// Every verified message is answered, a refused reply with processed only.
	if err := p.queueMDNs(ctx, m, in, reached); err != nil {
		return err
	}
	return applyErr
}

// applyReport turns an MDN or DSN about one of our messages into a
// delivery receipt; a report we cannot correlate goes to the inbox.
func (p *Processor) applyReport(ctx context.Context, m *inMessage, rep *mdn.Report) error {
	d, err := p.deliveryFor(ctx, rep.OriginalMessageID)
	if err != nil {
		return err
	}
	if d == nil {
		tenants, err := p.tenantsFor(ctx, m.env.RcptTo)
		if err != nil {
			return err
		}
		m.tenants = tenants
		it := m.item("report")
		it.Applied = "unmatched " + string(rep.Kind)
		if err := p.inbox.Put(it, m.raw); err != nil {
			return err
		}
		return p.audit(ctx, tenants, "", "direct.report-unmatched", audit.OutcomeFailure, map[string]string{
			"spool": m.id, "kind": string(rep.Kind), "originalMessageId": rep.OriginalMessageID, "from": m.from})
	}
	r, _, err := p.svc.Referral(ctx, d.ReferralID)
	if err != nil {
		return err
	}
	m.referralID, m.tenants = r.ID, []string{r.Requester.OrgID}
	ok, err := p.fromParty(ctx, r.ReceiverID, m.from)
	if err != nil {
		return err
	}
	if !ok {
		return &Refusal{Reason: ReasonNotReceiver,
			Err: fmt.Errorf("%s reported on delivery %s but is not its receiver", m.from, d.ID)}
	}
	rc, extend := p.receipt(rep)
	if _, err := p.svc.RecordReceipt(ctx, d.ID, rc, extend); err != nil {
		if !refusedByCore(err) {
			return err
		}
		// The delivery cannot take this receipt (e.g. it was requeued for a
		// retry): keep the report for an admin instead of retrying it.
		it := m.item("report")
		it.Applied = "refused: " + truncate(err.Error(), 200)
		if err := p.inbox.Put(it, m.raw); err != nil {
			return err
		}
		return p.audit(ctx, m.tenants, r.ID, "direct.receipt-refused", audit.OutcomeRefused, map[string]string{
			"spool": m.id, "delivery": d.ID, "receipt": string(rc.Kind), "error": it.Applied, "from": m.from})
	}
	p.log.InfoContext(ctx, "direct receipt", "spool", m.id, "delivery", d.ID, "kind", string(rc.Kind))
	return p.audit(ctx, m.tenants, r.ID, "direct.receipt", audit.OutcomeSuccess, map[string]string{
		"spool": m.id, "delivery": d.ID, "report": string(rep.Kind), "disposition": string(rep.Disposition),
		"receipt": string(rc.Kind), "reportId": rep.MessageID, "from": m.from})
}

// receipt maps a report onto the core's receipt and the deadline extension
// that waits for the dispatched MDN.
func (p *Processor) receipt(rep *mdn.Report) (gateway.Receipt, time.Duration) {
	now := p.now()
	switch {
	case rep.Failed():
		return gateway.Receipt{Kind: gateway.ReceiptFailed, At: now, Final: true,
			Detail: string(rep.Kind) + " failed: " + cleanRemote(rep.Reason)}, 0
	case rep.Kind == mdn.KindDSN:
		// A delivered or relayed DSN shows progress, not final delivery.
		return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now, Detail: "dsn " + firstAction(rep)}, 0
	case rep.Disposition == mdn.Processed:
		if p.ch.FinalDelivery() {
			return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now, Detail: "mdn processed"}, p.ch.DispatchedWithin
		}
		return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now, Final: true, Detail: "mdn processed"}, 0
	case rep.Disposition == mdn.Dispatched, rep.Disposition == mdn.Displayed:
		return gateway.Receipt{Kind: gateway.ReceiptDispatched, At: now, Final: true, Detail: "mdn " + string(rep.Disposition)}, 0
	case rep.Disposition == mdn.Deleted:
		return gateway.Receipt{Kind: gateway.ReceiptFailed, At: now, Final: true, Detail: "mdn deleted"}, 0
	}
	return gateway.Receipt{Kind: gateway.ReceiptProcessed, At: now, Detail: "mdn " + cleanRemote(string(rep.Disposition))}, 0
}

func firstAction(rep *mdn.Report) string {
	if len(rep.Recipients) > 0 {
		return string(rep.Recipients[0].Action)
	}
	return "report"
}

// cleanRemote keeps remote text fit for a trail field: printable and short.
func cleanRemote(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), 200)
}

// refusedByCore reports whether err is one of the core's typed refusals,
// which retrying the same reply cannot change.
func refusedByCore(err error) bool {
	var (
		te *gateway.TransitionError
		ve *gateway.ValidationError
		vs gateway.ValidationErrors
	)
	return errors.As(err, &te) || errors.As(err, &ve) || errors.As(err, &vs) ||
		errors.Is(err, gateway.ErrForbidden) || errors.Is(err, gateway.ErrNotFound)
}

// deliveryFor finds our Direct delivery whose message has the Message-ID
// msgID; nil when there is none. The Message-ID is recorded on the delivery
// only after the SMTP send returned, so a receipt that overtakes that
// (a fast receiver) is matched by the delivery id the Message-ID is derived
// from (channel.MessageID).
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
	if !ok || !strings.EqualFold(domain, p.ch.Domain) || local == "" {
		return nil, nil
	}
	// The Service has no lookup of one delivery by id; read it from its store.
	err = p.svc.Store().View(ctx, func(tx gateway.Tx) error {
		var err error
		d, err = tx.Delivery(ctx, local, false)
		return err
	})
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
