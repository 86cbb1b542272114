package inbound

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/gateway"
)

// plainReport decides a report that came without S/MIME (open refused it
// as not encrypted). A remote MTA that cannot deliver one of our messages
// answers with a plain DSN: it holds no Direct certificate, so nothing
// about it can be authenticated. Such a DSN is taken as an unauthenticated
// failure indication, and only as that, when everything in it ties it to
// a delivery we made (see plainFailure); anything else that is a report is
// quarantined as unverified-report. ok is false when raw is no report at
// all: the caller's not-encrypted refusal stands.
func (p *Processor) plainReport(ctx context.Context, m *inMessage) (out gateway.InboundOutcome, ok bool, err error) {
	rep, perr := mdn.Parse(m.raw)
	if perr != nil {
		return out, false, nil
	}
	m.kind = "report"
	d, rep, why, err := p.plainFailure(ctx, m, rep)
	if err != nil {
		return out, true, err
	}
	if d == nil {
		return out, true, &Refusal{Reason: ReasonUnverifiedReport, Err: errors.New(why)}
	}
	failed := cleanRemote(rep.Reason)
	rc := gateway.Receipt{Kind: gateway.ReceiptFailed, At: p.now(), Final: true, RemoteID: rep.OriginalMessageID,
		Detail: "unauthenticated dsn failed: " + failed}
	out = gateway.InboundOutcome{State: gateway.InboundMatched, Kind: "report", From: headerFrom(m.raw),
		ReferralID: m.referralID, DeliveryID: d.ID, Tenants: m.tenants, Receipt: &rc,
		Applied: "receipt failed (unauthenticated DSN)"}
	out.Events = []audit.Event{{Actor: "system", ReferralID: m.referralID, Action: "direct.receipt", Outcome: audit.OutcomeSuccess,
		Detail: clean(map[string]string{"inbound": m.id, "delivery": d.ID, "report": string(rep.Kind), "receipt": string(rc.Kind),
			"authenticated": "false", "reportId": rep.MessageID, "reportingMta": cleanRemote(rep.ReportingUA), "status": failed})}}
	p.log.InfoContext(ctx, "direct unauthenticated failure dsn", "inbound", m.id, "delivery", d.ID)
	return out, true, nil
}

// plainFailure returns the delivery an unauthenticated report may fail,
// with the report narrowed to that delivery's recipient, or nil and why it
// may not. The rule: a DSN (an MDN comes from a HISP, which signs), sent
// with the null reverse-path DSNs use (RFC 5321 section 4.5.5), to the
// address the delivery left from, about the Message-ID of one of our
// Direct deliveries (its returned header, its envelope id or its
// In-Reply-To), reporting the action failed for exactly the address that
// delivery went to (the receiver's Direct address, or a parent's the
// directory lists), for a delivery the receiving HISP has not already
// acknowledged with a signed receipt. Nothing else in an unauthenticated
// report is taken: never a success, never a delivery to another address.
func (p *Processor) plainFailure(ctx context.Context, m *inMessage, rep *mdn.Report) (*gateway.Delivery, *mdn.Report, string, error) {
	switch {
	case rep.Kind != mdn.KindDSN:
		return nil, nil, "an MDN must come signed and encrypted", nil
	case m.stored.MailFrom != "":
		return nil, nil, "an unsigned DSN must come with the null reverse-path, not " + m.stored.MailFrom, nil
	}
	d, err := p.deliveryFor(ctx, rep.OriginalMessageID)
	if err != nil || d == nil {
		return nil, nil, fmt.Sprintf("unsigned DSN about %q, which is none of our Direct deliveries", rep.OriginalMessageID), err
	}
	r, _, err := p.svc.Referral(ctx, d.ReferralID)
	if err != nil {
		return nil, nil, "", err
	}
	sender, err := p.svc.Entry(ctx, r.Requester.OrgID)
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return nil, nil, "", err
	}
	from := p.cfg.Channel.SenderAddress(sender)
	if !slices.ContainsFunc(m.stored.RcptTo, func(a string) bool { return strings.EqualFold(a, from) }) {
		return nil, nil, fmt.Sprintf("unsigned DSN about delivery %s sent to %v, not to %s the delivery left from", d.ID, m.stored.RcptTo, from), nil
	}
	addrs, err := p.partyAddresses(ctx, r.ReceiverID)
	if err != nil {
		return nil, nil, "", err
	}
	ours, ok := rep.About(func(a string) bool {
		return slices.ContainsFunc(addrs, func(b string) bool { return strings.EqualFold(a, b) })
	})
	if !ok || !ours.Failed() {
		return nil, nil, fmt.Sprintf("unsigned DSN about delivery %s reports no failure for the address it went to", d.ID), nil
	}
	for _, rc := range d.Receipts {
		if (rc.Kind == gateway.ReceiptProcessed || rc.Kind == gateway.ReceiptDispatched) && !strings.HasPrefix(rc.Detail, dsnDetailPrefix) {
			return nil, nil, fmt.Sprintf("unsigned DSN about delivery %s, which the receiving HISP acknowledged with a signed %s receipt", d.ID, rc.Kind), nil
		}
	}
	m.referralID, m.tenants = r.ID, []string{r.Requester.OrgID}
	return d, ours, "", nil
}
