package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/outbound"
)

// UnknownTenant is the trail that records inbound events no practice can
// be named for.
const UnknownTenant = gateway.UnknownInboundTenant

// RevocationPolicy decides a message whose signer's CRL could not be
// fetched for Config.RevocationRetryFor.
type RevocationPolicy string

// Revocation policies. DirectTrust practice is to refuse (hard fail); a
// gateway may choose to accept and flag instead. Either way the decision
// is audited.
const (
	RevocationRefuse RevocationPolicy = "refuse"
	RevocationAccept RevocationPolicy = "accept"
)

// DefaultRevocationRetryFor is how long a CRL outage is retried before
// the revocation policy decides.
const DefaultRevocationRetryFor = 4 * time.Hour

// Config wires a Processor. Service and Channel are required.
type Config struct {
	// Service is the referral core the messages are applied to.
	Service *gateway.Service
	// Channel is our Direct channel: its keyring decrypts and signs, its
	// trust store verifies, its transport carries our MDNs, and its
	// final-delivery setting and MDN deadlines apply to receipts.
	Channel *channel.Channel
	// CRLs fetches revocation lists; nil means an HTTP fetcher behind a
	// cache, with the outbound guard: distribution points on non-public
	// addresses are refused unless AllowPrivateNetworks.
	CRLs smime.CRLFetcher
	// AllowPrivateNetworks lets the default CRL fetcher reach loopback and
	// private addresses (development and tests only).
	AllowPrivateNetworks bool
	// SkipRevocation turns CRL checking off (tests and offline tools only).
	SkipRevocation bool
	// RevocationRetryFor is how long after receipt a message whose CRL
	// cannot be fetched is retried (DefaultRevocationRetryFor when zero);
	// then RevocationPolicy decides.
	RevocationRetryFor time.Duration
	// RevocationPolicy is RevocationRefuse (the default) or RevocationAccept.
	RevocationPolicy RevocationPolicy
	// ReportingUA names us in MDNs; "<domain>; referralgw" when empty.
	ReportingUA string
	// Logger receives ids and reasons only (discarded when nil).
	Logger *slog.Logger
}

// Processor applies received Direct mail to the referral core. The core
// runs it as a River job per message (gateway.JobInbound) and per MDN
// (gateway.JobNotice); New registers it.
type Processor struct {
	cfg Config
	ch  channel.Config
	svc *gateway.Service
	now func() time.Time
	log *slog.Logger
}

var _ gateway.InboundHandler = (*Processor)(nil)

// New checks cfg, returns the processor and registers it with the core as
// the handler of Direct mail.
func New(cfg Config) (*Processor, error) {
	var errs []error
	if cfg.Service == nil {
		errs = append(errs, errors.New("service is required"))
	}
	if cfg.Channel == nil {
		errs = append(errs, errors.New("channel is required"))
	}
	switch cfg.RevocationPolicy {
	case "":
		cfg.RevocationPolicy = RevocationRefuse
	case RevocationRefuse, RevocationAccept:
	default:
		errs = append(errs, fmt.Errorf("revocation policy %q: want refuse or accept", cfg.RevocationPolicy))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("direct inbound: config: %w", err)
	}
	p := &Processor{cfg: cfg, ch: cfg.Channel.Config(), svc: cfg.Service, log: cfg.Logger}
	p.now = cfg.Service.Clock().Now
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.cfg.ReportingUA == "" {
		p.cfg.ReportingUA = p.ch.Domain + "; referralgw"
	}
	if p.cfg.RevocationRetryFor <= 0 {
		p.cfg.RevocationRetryFor = DefaultRevocationRetryFor
	}
	if p.cfg.CRLs == nil && !p.cfg.SkipRevocation {
		hc := outbound.NewClient(outbound.Config{Timeout: 10 * time.Second, AllowPrivate: p.cfg.AllowPrivateNetworks})
		p.cfg.CRLs = smime.NewCRLCache(&smime.HTTPCRLFetcher{Client: hc}, p.now)
	}
	cfg.Service.SetInboundHandler(gateway.ChannelDirect, p)
	return p, nil
}

// ProcessInbound implements gateway.InboundHandler: it opens and verifies
// one received message outside any transaction, works out what it means
// and commits that with Service.ApplyInbound. A refused message is
// quarantined (a state of the stored message) and audited; a temporary
// failure retries the job, and on its last attempt quarantines the message
// as processing-failed.
func (p *Processor) ProcessInbound(ctx context.Context, st *gateway.InboundMessage, raw []byte, meta gateway.JobMeta) error {
	m := &inMessage{id: st.ID, stored: st, raw: raw, tenants: st.Tenants}
	out, err := p.handle(ctx, m)
	if err != nil {
		var (
			ref    *Refusal
			snooze *gateway.SnoozeError
		)
		if errors.As(err, &snooze) {
			return snooze // a CRL outage: ask again later, not an attempt
		}
		if !errors.As(err, &ref) {
			if meta.MaxAttempts == 0 || meta.Attempt < meta.MaxAttempts || ctx.Err() != nil {
				return fmt.Errorf("direct inbound %s: %w", m.id, err)
			}
			ref = &Refusal{Reason: ReasonProcessingFailed, Err: err}
		}
		out = p.refusal(m, ref)
		if ref.Reason == ReasonProcessingFailed && m.in != nil {
			// A message whose sender was authenticated and that we gave
			// up on: processed and, when final delivery was asked for,
			// failed, so the sender need not wait for its own timeout.
			// mdns reads the directory only for dispatched, never here.
			notices, events, nerr := p.mdns(ctx, m, m.in, false, failureText(ref.Reason))
			if nerr != nil {
				events = []audit.Event{{Actor: "system", ReferralID: m.referralID, Action: "direct.mdn-skipped", Outcome: audit.OutcomeFailure,
					Detail: clean(map[string]string{"inbound": m.id, "messageId": m.in.MessageID, "reason": gateway.Truncate(nerr.Error(), 300)})}}
			}
			out.Notices, out.Events = notices, append(out.Events, events...)
		}
	}
	if _, err := p.svc.ApplyInbound(ctx, m.id, out); err != nil {
		return fmt.Errorf("direct inbound %s: %w", m.id, err)
	}
	if err != nil && len(out.Events) == 0 {
		// A refusal of a sender nobody authenticated: the gateway-level
		// chain, aggregated, never a practice's trail.
		if rerr := p.svc.RecordEdge(ctx, gateway.EdgeEvent{Action: "direct.inbound-refused", Source: m.stored.RemoteIP,
			Reason: out.Reason, Text: m.stored.MailFrom}); rerr != nil {
			p.log.Warn("direct inbound: edge audit failed", "inbound", m.id, "err", rerr)
		}
	}
	return nil
}

// refusal is the outcome of a refused message: quarantined and audited.
// A message whose sender was authenticated (a trusted signature bound to
// its address) but that the practice's rules refused is audited in the
// practice's trail; a refusal before anyone was authenticated (not
// encrypted for us, unsigned, untrusted, tampered) says nothing about a
// practice and is left to the gateway-level chain (see ProcessInbound),
// so unauthenticated traffic cannot write into practices' trails.
func (p *Processor) refusal(m *inMessage, ref *Refusal) gateway.InboundOutcome {
	errText := gateway.Truncate(ref.Err.Error(), 500)
	p.log.Info("direct inbound refused", "inbound", m.id, "reason", string(ref.Reason))
	out := gateway.InboundOutcome{State: gateway.InboundQuarantined, Kind: m.kind, From: m.from, Signer: m.signerName(),
		ReferralID: m.referralID, Tenants: m.tenants, Reason: string(ref.Reason), Error: errText, Applied: "quarantined",
		Summary: m.summary}
	if authenticatedRefusal(ref.Reason) {
		out.Events = []audit.Event{{Actor: "system", ReferralID: m.referralID,
			Action: "direct.inbound-refused", Outcome: audit.OutcomeRefused, Detail: clean(map[string]string{
				"inbound": m.id, "reason": string(ref.Reason), "error": errText, "mailFrom": m.stored.MailFrom,
				"from": m.from, "messageId": m.msgID})}}
	}
	return out
}

// authenticatedRefusal reports whether a refusal came after the sender was
// authenticated: a verified signature from a trusted certificate bound to
// the From address, refused for what it asked (answering for another
// address), or a message we could not process.
func authenticatedRefusal(r Reason) bool {
	return r == ReasonNotReceiver || r == ReasonProcessingFailed || r == ReasonRecipientNotSent
}

// SendNotice implements gateway.InboundHandler: it sends one sealed MDN to
// the sender of the message it answers. A temporary SMTP failure retries
// the job (and gives up on the last attempt); a permanent one is recorded.
func (p *Processor) SendNotice(ctx context.Context, n *gateway.Notice, meta gateway.JobMeta) error {
	res, err := p.ch.Transport.Send(ctx, n.From, []string{n.To}, n.Wire)
	switch {
	case err == nil:
		return p.svc.NoticeSent(ctx, n.ID, strings.TrimSpace(fmt.Sprintf("%d %s", res.Code, res.EnhancedCode)))
	case smtpout.IsTemporary(err) && (meta.MaxAttempts == 0 || meta.Attempt < meta.MaxAttempts):
		return fmt.Errorf("direct inbound: send mdn %s: %w", n.ID, err)
	default:
		return p.svc.NoticeFailed(ctx, n.ID, err.Error())
	}
}

// clean drops empty values from an audit detail.
func clean(detail map[string]string) map[string]string {
	for k, v := range detail {
		if v == "" {
			delete(detail, k)
		}
	}
	return detail
}
