package inbound

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/gateway"
)

// mdns seals the MDNs that answer a verified message, for each of its
// recipients of ours (an MDN reports one Final-Recipient): failed alone
// for a recipient no party receives at (see deliverable); else processed
// always (the Applicability Statement asks for one for every message
// received and trusted, whether or not Disposition-Notification-To was
// present); when the sender asked for final delivery, failed when failure
// is set (the message was quarantined after its sender was authenticated:
// the Delivery Notification guide asks the receiving HISP to say so
// rather than let the sender wait for its timeout), else dispatched when
// the message was made available to that recipient (see dispatchedFor).
// They go to the message's verified sender, never to a third address named
// in Disposition-Notification-To, encrypted for the certificate that
// signed it, or the one discovery finds for the sender (see answerCert).
// MDN ids derive from the original id, so a rerun builds the same notices.
// What cannot be built is audited; an error (the directory could not be
// read) retries the job.
func (p *Processor) mdns(ctx context.Context, m *inMessage, in *message.Inbound, reached bool, failure string) ([]gateway.Notice, []audit.Event, error) {
	skip := func(disp, reason string) audit.Event {
		return audit.Event{Actor: "system", ReferralID: m.referralID, Action: "direct.mdn-skipped", Outcome: audit.OutcomeFailure,
			Detail: clean(map[string]string{"inbound": m.id, "messageId": in.MessageID, "disposition": disp, "reason": gateway.Truncate(reason, 300)})}
	}
	if in.MessageID == "" {
		return nil, []audit.Event{skip("", "the message has no Message-ID to answer")}, nil
	}
	recipients := p.ourAddresses(m, in)
	if len(recipients) == 0 {
		return nil, []audit.Event{skip("", "no recipient address of ours")}, nil
	}
	encryptFor, err := p.answerCert(ctx, m)
	if err != nil {
		return nil, []audit.Event{skip("", err.Error())}, nil
	}
	var (
		notices []gateway.Notice
		events  []audit.Event
	)
	for _, ours := range recipients {
		disps, failure := []mdn.Disposition{mdn.Processed}, failure
		ok, err := p.deliverable(ctx, ours)
		if err != nil {
			return nil, nil, fmt.Errorf("direct inbound: %w", err)
		}
		switch {
		case !ok:
			// No party receives at ours: "processed" would say we took
			// responsibility for a message we cannot deliver. The sender
			// gets failed for this recipient alone, asked for or not.
			disps, failure = []mdn.Disposition{mdn.Failed}, failureUnknownRecipient
		case in.FinalDelivery && failure != "":
			disps = append(disps, mdn.Failed)
		case in.FinalDelivery && reached:
			ok, err := p.dispatchedFor(ctx, ours, len(recipients))
			if err != nil {
				return nil, nil, err
			}
			if ok {
				disps = append(disps, mdn.Dispatched)
			}
		}
		first := "" // the processed MDN to ours, which goes out before the others
		for _, disp := range disps {
			id := mdnID(in.MessageID, ours, disp, channel.Domain(ours))
			raw, err := mdn.Build(mdn.Notification{
				From: ours, To: m.from, MessageID: id, Date: p.now(),
				ReportingUA: p.cfg.ReportingUA, OriginalRecipient: ours, FinalRecipient: ours,
				OriginalMessageID: in.MessageID, Disposition: disp, FinalDelivery: in.FinalDelivery && disp != mdn.Processed,
				Failure: failureIf(disp, failure),
			})
			var wire []byte
			if err == nil {
				wire, err = p.cfg.Channel.Seal(ours, encryptFor, raw)
			}
			if err != nil {
				events = append(events, skip(string(disp), err.Error()))
				continue
			}
			n := gateway.Notice{ID: id, Disposition: string(disp), From: ours, To: m.from,
				Tenants: m.tenants, ReferralID: m.referralID, Wire: wire}
			if disp == mdn.Processed {
				first = id
			} else {
				n.After = first // the guide's order: processed, then dispatched or failed
			}
			notices = append(notices, n)
		}
	}
	return notices, events, nil
}

// dispatchedFor reports whether a message made available (matched to a
// referral, or in a known practice's inbox) reached the recipient ours:
// its only recipient of ours, or, among several, one whose address the
// directory lists (our default sending address or the postmaster, which
// we accept but no practice owns, get processed only).
func (p *Processor) dispatchedFor(ctx context.Context, ours string, recipients int) (bool, error) {
	if recipients == 1 {
		return true, nil
	}
	entries, err := p.svc.EntriesWithDirectAddress(ctx, ours)
	if err != nil {
		return false, fmt.Errorf("direct inbound: %w", err)
	}
	return len(entries) > 0, nil
}

// ourAddresses are the recipients of m in our domain that answer it, each
// once, lower-cased: its RCPT TO addresses we hold a key for (they are
// among its To and Cc, see envelopeMatches), else the first such of its To.
func (p *Processor) ourAddresses(m *inMessage, in *message.Inbound) []string {
	var out []string
	usable := func(a string) bool {
		if !p.ch.Ours(a) || slices.Contains(out, strings.ToLower(a)) {
			return false
		}
		_, err := p.ch.Keys.ForAddress(a)
		return err == nil
	}
	for _, a := range m.stored.RcptTo {
		if usable(a) {
			out = append(out, strings.ToLower(a))
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, a := range in.To {
		if usable(a) {
			return []string{strings.ToLower(a)}
		}
	}
	return nil
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

// failureText is the Failure field of the failed MDN that answers a
// message quarantined for reason: the reason code only, no content.
func failureText(reason Reason) string {
	return "not delivered: quarantined by the receiving HISP (" + string(reason) + ")"
}

// failureUnknownRecipient is the Failure field of the failed MDN that
// answers for a recipient of ours no party receives at.
const failureUnknownRecipient = "not delivered: no such recipient at the receiving HISP (5.1.1)"

// failureIf is failure for a failed MDN, "" for any other.
func failureIf(disp mdn.Disposition, failure string) string {
	if disp != mdn.Failed {
		return ""
	}
	return failure
}
