package inbound

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/direct/smtpin"
)

// inMessage is one spooled message on its way through the processor.
type inMessage struct {
	id  string
	env smtpin.Envelope
	raw []byte

	// Set once the message is opened and verified.
	entity []byte            // the signed inner message
	signer *x509.Certificate // its verified signing certificate
	chain  []*x509.Certificate
	from   string // header From of the inner message, bound to signer
	msgID  string

	referralID string
	tenants    []string
}

// item is the folder metadata of m.
func (m *inMessage) item(kind string) Item {
	it := Item{ID: m.id, Kind: kind, Received: m.env.Received, RemoteIP: m.env.RemoteIP, MailFrom: m.env.MailFrom,
		RcptTo: m.env.RcptTo, From: m.from, MessageID: m.msgID, ReferralID: m.referralID, Tenants: m.tenants}
	if m.signer != nil {
		it.Signer = m.signer.Subject.CommonName
	}
	return it
}

// open decrypts m with our keys and verifies the signature, the signer's
// chain, validity, revocation and binding to both the envelope sender (or
// the outer From for a null sender) and the inner From. Any failure is a
// *Refusal.
func (p *Processor) open(ctx context.Context, m *inMessage) error {
	m.msgID = headerMsgID(m.raw)
	inner, err := smime.Decrypt(m.raw, p.ch.Keys)
	if err != nil {
		return &Refusal{Reason: classify(err), Err: err}
	}
	claimed := m.env.MailFrom
	if claimed == "" {
		claimed = headerFrom(m.raw)
	}
	if claimed == "" {
		return &Refusal{Reason: ReasonAddressMismatch, Err: errors.New("no sender address on the envelope or the outer header")}
	}
	v, err := smime.Verify(ctx, inner, smime.VerifyOptions{
		Sender: claimed, TrustAnchors: p.ch.Trust.Pool(), Now: p.now, CRLs: p.cfg.CRLs,
		SkipRevocation: p.cfg.SkipRevocation, RevocationSoftFail: p.cfg.RevocationSoftFail,
	})
	if err != nil {
		return &Refusal{Reason: classify(err), Err: err}
	}
	m.entity, m.signer, m.chain = v.Entity, v.Signer, v.Chain
	if id := headerMsgID(v.Entity); id != "" {
		m.msgID = id
	}
	m.from = headerFrom(v.Entity)
	if m.from == "" {
		return &Refusal{Reason: ReasonMalformed, Err: errors.New("signed message has no From address")}
	}
	if !channel.BoundTo(v.Signer, m.from) {
		return &Refusal{Reason: ReasonAddressMismatch,
			Err: fmt.Errorf("signer %q is not bound to the From address %s", v.Signer.Subject.CommonName, m.from)}
	}
	return nil
}

// header parses the header block of raw; nil when it does not parse.
func header(raw []byte) mail.Header {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	return msg.Header
}

// headerFrom returns the bare From address of raw, or "".
func headerFrom(raw []byte) string {
	h := header(raw)
	if h == nil {
		return ""
	}
	list, err := h.AddressList("From")
	if err != nil || len(list) != 1 {
		return ""
	}
	return list[0].Address
}

// headerMsgID returns the Message-ID of raw without angle brackets, or "".
func headerMsgID(raw []byte) string {
	h := header(raw)
	if h == nil {
		return ""
	}
	id := strings.TrimSpace(h.Get("Message-Id"))
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if len(id) > 250 || strings.ContainsAny(id, " \t<>") {
		return ""
	}
	return id
}
