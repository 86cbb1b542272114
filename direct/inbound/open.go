package inbound

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"slices"
	"strings"

	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/gateway"
)

// inMessage is one received message on its way through the processor.
type inMessage struct {
	id     string
	stored *gateway.InboundMessage
	raw    []byte
	kind   string
	// revocationUnknown: accepted by policy or release although the
	// signer's CRL could not be fetched.
	revocationUnknown bool
	summary           *gateway.InboundSummary
	// in is the parsed message once it was opened, verified and read as
	// mail (not a report): what a failed MDN answers.
	in *message.Inbound

	// Set once the message is opened and verified.
	entity []byte            // the signed inner message
	signer *x509.Certificate // its verified signing certificate
	chain  []*x509.Certificate
	from   string // header From of the inner message, bound to signer
	msgID  string

	referralID string
	tenants    []string
}

// signerName is the common name of m's verified signer, or "".
func (m *inMessage) signerName() string {
	if m.signer == nil {
		return ""
	}
	return m.signer.Subject.CommonName
}

// open decrypts m with our keys, verifies the signature, the signer's
// chain, validity, revocation and binding to both the envelope sender (or
// the outer From for a null sender) and the inner From, unwraps a
// message/rfc822 wrapped message and checks the SMTP envelope against its
// signed header (envelopeMatches). Any failure is a *Refusal.
func (p *Processor) open(ctx context.Context, m *inMessage) error {
	m.msgID = headerMsgID(m.raw)
	inner, err := smime.Decrypt(m.raw, p.ch.Keys)
	if err != nil {
		return &Refusal{Reason: classify(err), Err: err}
	}
	claimed := m.stored.MailFrom
	if claimed == "" {
		claimed = headerFrom(m.raw)
	}
	if claimed == "" {
		return &Refusal{Reason: ReasonAddressMismatch, Err: errors.New("no sender address on the envelope or the outer header")}
	}
	opts := smime.VerifyOptions{Sender: claimed, TrustAnchors: p.ch.Trust.Pool(), Now: p.now, CRLs: p.cfg.CRLs,
		SkipRevocation: p.cfg.SkipRevocation}
	v, err := smime.Verify(ctx, inner, opts)
	if errors.Is(err, smime.ErrUntrustedAnchor) && p.ch.AIA != nil {
		v, err = p.verifyViaAIA(ctx, inner, &opts, err)
	}
	if errors.Is(err, smime.ErrRevocationUnknown) {
		v, err = p.revocationOutage(ctx, m, inner, opts, err)
	}
	if err != nil {
		var snooze *gateway.SnoozeError
		if errors.As(err, &snooze) {
			return err
		}
		return &Refusal{Reason: classify(err), Err: err}
	}
	// Applicability Statement v1.3 senders wrap the message in
	// message/rfc822 (RFC 5751 section 3.1); its own header, inside the
	// signature, is the one that counts. Unwrapped messages stay accepted.
	entity, _, err := smime.Unwrap(v.Entity)
	if err != nil {
		return &Refusal{Reason: ReasonMalformed, Err: err}
	}
	m.entity, m.signer, m.chain = entity, v.Signer, v.Chain
	if id := headerMsgID(entity); id != "" {
		m.msgID = id
	}
	m.from = headerFrom(entity)
	if m.from == "" {
		return &Refusal{Reason: ReasonMalformed, Err: errors.New("signed message has no From address")}
	}
	if !channel.BoundTo(v.Signer, m.from) {
		return &Refusal{Reason: ReasonAddressMismatch,
			Err: fmt.Errorf("signer %q is not bound to the From address %s", v.Signer.Subject.CommonName, m.from)}
	}
	if err := envelopeMatches(entity, m.stored.MailFrom, m.stored.RcptTo); err != nil {
		return &Refusal{Reason: ReasonRoutingMismatch, Err: err}
	}
	return nil
}

// envelopeMatches applies the Applicability Statement v1.3 rule that the
// signed header is authoritative over the SMTP envelope: a non-null MAIL
// FROM must be the From or the Sender of entity, and every RCPT TO must be
// among its To and Cc (not Bcc: a recipient must be visible in the header
// the sender signed). It stops a signed message from being replayed to
// another address our key also opens.
func envelopeMatches(entity []byte, mailFrom string, rcptTo []string) error {
	h := header(entity)
	if h == nil {
		return errors.New("signed message header does not parse")
	}
	addrs := func(fields ...string) []string {
		var out []string
		for _, f := range fields {
			if list, err := h.AddressList(f); err == nil {
				for _, a := range list {
					out = append(out, a.Address)
				}
			}
		}
		return out
	}
	has := func(list []string, addr string) bool {
		return slices.ContainsFunc(list, func(a string) bool { return strings.EqualFold(a, addr) })
	}
	if mailFrom != "" && !has(addrs("From", "Sender"), mailFrom) {
		return fmt.Errorf("MAIL FROM %s is neither the From nor the Sender of the signed message", mailFrom)
	}
	recipients := addrs("To", "Cc")
	for _, r := range rcptTo {
		if !has(recipients, r) {
			return fmt.Errorf("RCPT TO %s is not among the To and Cc of the signed message", r)
		}
	}
	return nil
}

// verifyViaAIA retries a signature whose signer does not chain to our
// anchors with the intermediates its certificates' caIssuers links lead
// to, when those chain it to an anchor (outside any transaction: this
// fetches over HTTP, cached). The first refusal stands, with the AIA
// failure added, when they do not. opts keeps the intermediates found, for
// a later verification of the same message.
func (p *Processor) verifyViaAIA(ctx context.Context, inner []byte, opts *smime.VerifyOptions, cause error) (*smime.Verified, error) {
	carried, err := smime.CarriedCertificates(inner)
	if err != nil {
		return nil, cause
	}
	var aiaErrs []error
	for _, c := range carried {
		if c.IsCA || len(c.IssuingCertificateURL) == 0 {
			continue
		}
		fetched, err := p.ch.AIA.Complete(ctx, c, opts.TrustAnchors, carried, p.now())
		if err != nil {
			aiaErrs = append(aiaErrs, err)
			continue
		}
		opts.Intermediates = append(opts.Intermediates, fetched...)
	}
	if len(opts.Intermediates) == 0 {
		if len(aiaErrs) > 0 {
			return nil, fmt.Errorf("%w; %w", cause, errors.Join(aiaErrs...))
		}
		return nil, cause
	}
	v, err := smime.Verify(ctx, inner, *opts)
	if err == nil {
		p.log.InfoContext(ctx, "direct signer chain completed through AIA", "message", headerMsgID(inner), "intermediates", len(opts.Intermediates))
	}
	return v, err
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

// headerSubject returns the decoded Subject of raw's header, or "".
func headerSubject(raw []byte) string {
	h := header(raw)
	if h == nil {
		return ""
	}
	s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		return ""
	}
	return s
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
