package inbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smtpout"
)

// outgoing is one sealed MDN waiting in the outbox. Wire is signed and
// encrypted for the original sender, so the file holds no plaintext.
type outgoing struct {
	MessageID         string   `json:"messageId"`
	OriginalMessageID string   `json:"originalMessageId"`
	Disposition       string   `json:"disposition"`
	From              string   `json:"from"`
	To                string   `json:"to"`
	Tenants           []string `json:"tenants"`
	ReferralID        string   `json:"referralId,omitempty"`
	Spool             string   `json:"spool"`
	Wire              []byte   `json:"wire"`
}

// queueMDNs seals the processed MDN, and the dispatched one when the sender
// asked for final delivery and the message reached its destination, into
// the outbox. MDN ids derive from the original id, so a rerun rewrites the
// same files.
func (p *Processor) queueMDNs(ctx context.Context, m *inMessage, in *message.Inbound, reached bool) error {
	if !in.MDNRequested() || in.MessageID == "" {
		return nil
	}
	ours := p.ourAddress(m, in)
	if ours == "" {
		return p.audit(ctx, m.tenants, m.referralID, "direct.mdn-skipped", audit.OutcomeFailure, map[string]string{
			"spool": m.id, "messageId": in.MessageID, "reason": "no recipient address of ours"})
	}
	if err := p.cfg.Channel.CheckRecipientCert(m.signer, m.from, m.chain...); err != nil {
		return p.audit(ctx, m.tenants, m.referralID, "direct.mdn-skipped", audit.OutcomeFailure, map[string]string{
			"spool": m.id, "messageId": in.MessageID, "reason": truncate(err.Error(), 300)})
	}
	disps := []mdn.Disposition{mdn.Processed}
	if in.FinalDelivery && reached {
		disps = append(disps, mdn.Dispatched)
	}
	for _, disp := range disps {
		id := mdnID(in.MessageID, ours, disp, channel.Domain(ours))
		raw, err := mdn.Build(mdn.Notification{
			From: ours, To: in.DispositionNotificationTo, MessageID: id, Date: p.now(),
			ReportingUA: p.cfg.ReportingUA, OriginalRecipient: ours, FinalRecipient: ours,
			OriginalMessageID: in.MessageID, Disposition: disp, FinalDelivery: in.FinalDelivery && disp == mdn.Dispatched,
		})
		var wire []byte
		if err == nil {
			wire, err = p.cfg.Channel.Seal(ours, m.signer, raw)
		}
		if err != nil {
			// Remote input (a malformed Disposition-Notification-To) or a
			// missing key of ours: retrying cannot help, so it is audited.
			if err := p.audit(ctx, m.tenants, m.referralID, "direct.mdn-skipped", audit.OutcomeFailure, map[string]string{
				"spool": m.id, "messageId": in.MessageID, "disposition": string(disp), "reason": truncate(err.Error(), 300)}); err != nil {
				return err
			}
			continue
		}
		o := outgoing{MessageID: id, OriginalMessageID: in.MessageID, Disposition: string(disp), From: ours,
			To: in.DispositionNotificationTo, Tenants: m.tenants, ReferralID: m.referralID, Spool: m.id, Wire: wire}
		data, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("queue %s mdn: %w", disp, err)
		}
		if err := writeFileAtomic(filepath.Join(p.outbox, fileKey(id)+".json"), data); err != nil {
			return fmt.Errorf("queue %s mdn: %w", disp, err)
		}
	}
	return nil
}

// ourAddress is the recipient of m in our domain that answers it.
func (p *Processor) ourAddress(m *inMessage, in *message.Inbound) string {
	for _, a := range append(append([]string{}, m.env.RcptTo...), in.To...) {
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

func fileKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// flushOutbox sends the queued MDNs. A temporary SMTP failure keeps an MDN
// for the next pass; a permanent one is audited and the MDN given up.
func (p *Processor) flushOutbox(ctx context.Context) (int, error) {
	ents, err := os.ReadDir(p.outbox)
	if err != nil {
		return 0, fmt.Errorf("direct inbound: outbox: %w", err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	sent := 0
	var errs []error
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(p.outbox, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var o outgoing
		if err := json.Unmarshal(data, &o); err != nil {
			errs = append(errs, fmt.Errorf("direct inbound: outbox %s: %w", e.Name(), err))
			continue
		}
		res, sendErr := p.ch.Transport.Send(ctx, o.From, []string{o.To}, o.Wire)
		detail := map[string]string{"spool": o.Spool, "mdnId": o.MessageID, "originalMessageId": o.OriginalMessageID,
			"disposition": o.Disposition, "to": o.To}
		switch {
		case sendErr == nil:
			detail["reply"] = fmt.Sprintf("%d %s", res.Code, res.EnhancedCode)
			if err := p.audit(ctx, o.Tenants, o.ReferralID, "direct.mdn-sent", audit.OutcomeSuccess, detail); err != nil {
				errs = append(errs, err)
				continue
			}
			sent++
		case smtpout.IsTemporary(sendErr):
			errs = append(errs, fmt.Errorf("direct inbound: send mdn %s: %w", o.MessageID, sendErr))
			continue
		default:
			detail["error"] = truncate(sendErr.Error(), 300)
			if err := p.audit(ctx, o.Tenants, o.ReferralID, "direct.mdn-failed", audit.OutcomeFailure, detail); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return sent, errors.Join(errs...)
}
