package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/direct/smtpin"
	"github.com/referralgw/gateway/gateway"
)

// UnknownTenant is the trail that records inbound events no practice can
// be named for.
const UnknownTenant = "direct-inbox"

// Defaults of Config.
const (
	DefaultInterval    = 5 * time.Second
	DefaultMaxAttempts = 10
)

// Spool is the part of smtpin.DirSpool the processor reads.
type Spool interface {
	List() ([]string, error)
	Load(id string) (smtpin.Envelope, []byte, error)
	Remove(id string) error
}

// Config wires a Processor. Service, Spool, Dir and Channel are required.
type Config struct {
	// Service is the referral core the messages are applied to.
	Service *gateway.Service
	// Spool is where smtpin left the accepted messages.
	Spool Spool
	// Dir is the processor's data directory; it holds inbox/, quarantine/,
	// done/ and outbox/.
	Dir string
	// Channel is our Direct channel: its keyring decrypts and signs, its
	// trust store verifies, its transport carries our MDNs, and its
	// final-delivery setting and MDN deadlines apply to receipts.
	Channel *channel.Channel
	// CRLs fetches revocation lists; nil means an HTTP fetcher behind a cache.
	CRLs smime.CRLFetcher
	// SkipRevocation turns CRL checking off (tests and offline tools only).
	SkipRevocation bool
	// RevocationSoftFail lets a certificate whose CRL cannot be fetched through.
	RevocationSoftFail bool
	// ReportingUA names us in MDNs; "<domain>; referralgw" when empty.
	ReportingUA string
	// Interval is Run's polling period (DefaultInterval when zero).
	Interval time.Duration
	// MaxAttempts is how many passes may fail on one message (a store
	// error, a full disk) before it is quarantined as processing-failed;
	// DefaultMaxAttempts when zero. Counts restart with the process.
	MaxAttempts int
	// Logger receives ids and reasons only (discarded when nil).
	Logger *slog.Logger
}

// Processor applies spooled Direct mail to the referral core.
// ProcessOnce and Run must not run concurrently on the same Dir.
type Processor struct {
	cfg        Config
	ch         channel.Config
	svc        *gateway.Service
	inbox      *Folder
	quarantine *Folder
	done       string
	outbox     string
	now        func() time.Time
	log        *slog.Logger
	failures   map[string]int // spool id → failed passes in a row
}

// New checks cfg, creates the data directories and returns the processor.
func New(cfg Config) (*Processor, error) {
	var errs []error
	if cfg.Service == nil {
		errs = append(errs, errors.New("service is required"))
	}
	if cfg.Spool == nil {
		errs = append(errs, errors.New("spool is required"))
	}
	if cfg.Dir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	if cfg.Channel == nil {
		errs = append(errs, errors.New("channel is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("direct inbound: config: %w", err)
	}
	p := &Processor{cfg: cfg, ch: cfg.Channel.Config(), svc: cfg.Service, log: cfg.Logger,
		done: filepath.Join(cfg.Dir, "done"), outbox: filepath.Join(cfg.Dir, "outbox")}
	p.now = cfg.Service.Clock().Now
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.cfg.ReportingUA == "" {
		p.cfg.ReportingUA = p.ch.Domain + "; referralgw"
	}
	if p.cfg.Interval <= 0 {
		p.cfg.Interval = DefaultInterval
	}
	if p.cfg.MaxAttempts <= 0 {
		p.cfg.MaxAttempts = DefaultMaxAttempts
	}
	p.failures = map[string]int{}
	if p.cfg.CRLs == nil && !p.cfg.SkipRevocation {
		p.cfg.CRLs = smime.NewCRLCache(&smime.HTTPCRLFetcher{}, p.now)
	}
	var err error
	if p.inbox, err = OpenFolder(filepath.Join(cfg.Dir, "inbox")); err != nil {
		return nil, err
	}
	if p.quarantine, err = OpenFolder(filepath.Join(cfg.Dir, "quarantine")); err != nil {
		return nil, err
	}
	for _, d := range []string{p.done, p.outbox} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("direct inbound: %w", err)
		}
	}
	return p, nil
}

// Inbox is the admin-visible folder of verified messages (new mail, replies,
// unmatched receipts).
func (p *Processor) Inbox() *Folder { return p.inbox }

// Quarantine is the folder of refused messages.
func (p *Processor) Quarantine() *Folder { return p.quarantine }

// Stats counts what one ProcessOnce did.
type Stats struct {
	Processed   int // applied or stored in the inbox
	Quarantined int // refused
	Failed      int // left in the spool for the next run (temporary errors)
	MDNsSent    int
}

// Run processes the spool every Interval until ctx ends.
func (p *Processor) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := p.ProcessOnce(ctx); err != nil {
			p.log.WarnContext(ctx, "direct inbound pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ProcessOnce processes every message now in the spool, then sends the
// queued MDNs. A message whose processing hit a temporary error stays in
// the spool; its error is among those returned.
func (p *Processor) ProcessOnce(ctx context.Context) (Stats, error) {
	var st Stats
	ids, err := p.cfg.Spool.List()
	if err != nil {
		return st, fmt.Errorf("direct inbound: list spool: %w", err)
	}
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		quarantined, err := p.processOne(ctx, id)
		switch {
		case err != nil:
			st.Failed++
			errs = append(errs, err)
			p.log.WarnContext(ctx, "direct inbound message", "spool", id, "err", err)
		case quarantined:
			st.Quarantined++
		default:
			st.Processed++
		}
	}
	sent, err := p.flushOutbox(ctx)
	st.MDNsSent = sent
	if err != nil {
		errs = append(errs, err)
	}
	return st, errors.Join(errs...)
}

// processOne applies one spooled message, then marks it done and removes it
// from the spool.
func (p *Processor) processOne(ctx context.Context, id string) (quarantined bool, err error) {
	if !validID(id) {
		return false, fmt.Errorf("direct inbound: invalid spool id %q", id)
	}
	marker := filepath.Join(p.done, id)
	if _, err := os.Stat(marker); err == nil {
		// Committed before a crash; only the removal is left.
		return false, p.remove(id, marker)
	}
	env, raw, err := p.cfg.Spool.Load(id)
	if err != nil {
		return false, fmt.Errorf("direct inbound: load %s: %w", id, err)
	}
	m := &inMessage{id: id, env: env, raw: raw}
	if err := p.handle(ctx, m); err != nil {
		var ref *Refusal
		if !errors.As(err, &ref) {
			p.failures[id]++
			if p.failures[id] < p.cfg.MaxAttempts || ctx.Err() != nil {
				return false, fmt.Errorf("direct inbound: %s: %w", id, err)
			}
			ref = &Refusal{Reason: ReasonProcessingFailed, Err: err}
		}
		if err := p.refuse(ctx, m, ref); err != nil {
			return false, fmt.Errorf("direct inbound: %s: %w", id, err)
		}
		quarantined = true
	}
	delete(p.failures, id)
	if err := writeFileAtomic(marker, []byte(p.now().UTC().Format(time.RFC3339)+"\n")); err != nil {
		return quarantined, fmt.Errorf("direct inbound: mark %s done: %w", id, err)
	}
	return quarantined, p.remove(id, marker)
}

func (p *Processor) remove(id, marker string) error {
	if err := p.cfg.Spool.Remove(id); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("direct inbound: remove %s from spool: %w", id, err)
	}
	if err := os.Remove(marker); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("direct inbound: clear marker %s: %w", id, err)
	}
	return nil
}

// refuse quarantines a refused message and audits the refusal.
func (p *Processor) refuse(ctx context.Context, m *inMessage, ref *Refusal) error {
	it := m.item("refused")
	it.Reason = ref.Reason
	it.Error = truncate(ref.Err.Error(), 500)
	it.Applied = "quarantined"
	if len(it.Tenants) == 0 {
		tenants, err := p.tenantsFor(ctx, m.env.RcptTo)
		if err != nil {
			return err
		}
		it.Tenants = tenants
	}
	if err := p.quarantine.Put(it, m.raw); err != nil {
		return err
	}
	p.log.InfoContext(ctx, "direct inbound refused", "spool", m.id, "reason", string(ref.Reason))
	return p.audit(ctx, it.Tenants, it.ReferralID, "direct.inbound-refused", audit.OutcomeRefused, map[string]string{
		"spool": m.id, "reason": string(ref.Reason), "error": it.Error, "mailFrom": m.env.MailFrom,
		"from": m.from, "messageId": m.msgID})
}

// audit records an inbound event in the trails of tenants.
func (p *Processor) audit(ctx context.Context, tenants []string, referralID, action, outcome string, detail map[string]string) error {
	for k, v := range detail {
		if v == "" {
			delete(detail, k)
		}
	}
	err := p.svc.RecordAudit(ctx, audit.Event{Time: p.now(), Actor: "system", Tenants: dedupe(tenants),
		ReferralID: referralID, Action: action, Outcome: outcome, Detail: detail})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

func dedupe(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []string{UnknownTenant}
	}
	return out
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
