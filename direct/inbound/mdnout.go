package inbound

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// mdns seals the MDNs that answer a verified message: processed always
// (the Applicability Statement asks for one for every message received
// and trusted, whether or not Disposition-Notification-To was present),
// and dispatched when the sender asked for final delivery and the message
// was made available. They go to the message's verified sender, never to
// a third address named in Disposition-Notification-To, encrypted for the
// certificate that signed it, or the one discovery finds for the sender
// (see answerCert). MDN ids derive from the original id, so a
// rerun builds the same notices. What cannot be built is audited.
func (p *Processor) mdns(ctx context.Context, m *inMessage, in *message.Inbound, reached bool) ([]gateway.Notice, []audit.Event) {
	skip := func(disp, reason string) audit.Event {
		return audit.Event{Actor: "system", ReferralID: m.referralID, Action: "direct.mdn-skipped", Outcome: audit.OutcomeFailure,
			Detail: clean(map[string]string{"inbound": m.id, "messageId": in.MessageID, "disposition": disp, "reason": truncate(reason, 300)})}
	}
	if in.MessageID == "" {
		return nil, []audit.Event{skip("", "the message has no Message-ID to answer")}
	}
	ours := p.ourAddress(m, in)
	if ours == "" {
		return nil, []audit.Event{skip("", "no recipient address of ours")}
	}
	encryptFor, err := p.answerCert(ctx, m)
	if err != nil {
		return nil, []audit.Event{skip("", err.Error())}
	}
	disps := []mdn.Disposition{mdn.Processed}
	if in.FinalDelivery && reached {
		disps = append(disps, mdn.Dispatched)
	}
	var (
		notices []gateway.Notice
		events  []audit.Event
	)
	for _, disp := range disps {
		id := mdnID(in.MessageID, ours, disp, channel.Domain(ours))
		raw, err := mdn.Build(mdn.Notification{
			From: ours, To: m.from, MessageID: id, Date: p.now(),
			ReportingUA: p.cfg.ReportingUA, OriginalRecipient: ours, FinalRecipient: ours,
			OriginalMessageID: in.MessageID, Disposition: disp, FinalDelivery: in.FinalDelivery && disp == mdn.Dispatched,
		})
		var wire []byte
		if err == nil {
			wire, err = p.cfg.Channel.Seal(ours, encryptFor, raw)
		}
		if err != nil {
			events = append(events, skip(string(disp), err.Error()))
			continue
		}
		notices = append(notices, gateway.Notice{ID: id, Disposition: string(disp), From: ours, To: m.from,
			Tenants: m.tenants, ReferralID: m.referralID, Wire: wire})
	}
	return notices, events
}

// ourAddress is the recipient of m in our domain that answers it.
func (p *Processor) ourAddress(m *inMessage, in *message.Inbound) string {
	for _, a := range append(append([]string{}, m.stored.RcptTo...), in.To...) {
		if p.ch.Ours(a) {
			if _, err := p.ch.Keys.ForAddress(a); err == nil {
				return strings.ToLower(a)
			}
		}
	}
	return ""
}

// mdnID derives a stable MDN Message-ID from what it answers.
func mdnID(original, recipient string, disp mdn.Disposition, domain string) string {
	sum := sha256.Sum256([]byte(original + "\x00" + strings.ToLower(recipient) + "\x00" + string(disp)))
	return "mdn-" + string(disp) + "-" + hex.EncodeToString(sum[:12]) + "@" + domain
}

// answerCert is the certificate an answer to m (an MDN or a reply) is
// encrypted for: the one that signed m when it allows encryption for m's
// From, else the one the channel finds for that address (the directory,
// then discovery), as for any message we send: a party may sign with a
// signing-only certificate and publish another for encryption. It may do
// network I/O: never call it in a transaction.
func (p *Processor) answerCert(ctx context.Context, m *inMessage) (*x509.Certificate, error) {
	signerErr := p.cfg.Channel.CheckRecipientCert(m.signer, m.from, m.chain...)
	if signerErr == nil {
		return m.signer, nil
	}
	cert, err := p.cfg.Channel.RecipientCert(ctx, &gateway.Entry{Direct: &gateway.DirectEndpoint{Address: m.from}})
	if err != nil {
		return nil, fmt.Errorf("signer: %w; discovery: %w", signerErr, err)
	}
	return cert, nil
}
