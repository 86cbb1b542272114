package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/referralgw/gateway/audit"
)

// Config tunes the core. The zero value works: DefaultConfig fills it in.
type Config struct {
	// BAAWarningWindow is how long before its end an active BAA is expiring.
	BAAWarningWindow time.Duration
	// Vendors names the directory entry of the vendor each channel sends
	// through (the fax vendor, the HISP); its BAA is gated like the
	// receiver's. A channel absent here has no vendor.
	Vendors map[ChannelKind]string
	// ReceiptGrace is added to a channel's AwaitReceipt before the deadline
	// job fails the delivery.
	ReceiptGrace time.Duration
	// ChannelRetries is how many deliveries one channel gets for a
	// referral when its failures are retryable (busy, no answer).
	ChannelRetries int
	// RetryBackoff is the delay before the first same-channel retry; it
	// doubles with each further one.
	RetryBackoff time.Duration
	// ReceiptPollEvery is how often a sent delivery on a channel that can
	// poll (ReceiptPoller) asks for its receipt until one arrives; zero
	// polls only at the deadline.
	ReceiptPollEvery time.Duration
	// Metrics, when set, is told of committed work (metrics.go).
	Metrics Metrics
}

// DefaultConfig returns the defaults DOMAIN.md implies.
func DefaultConfig() Config {
	return Config{BAAWarningWindow: DefaultBAAWarningWindow, ChannelRetries: 3, RetryBackoff: 2 * time.Minute, ReceiptPollEvery: 2 * time.Minute}
}

// SystemTenant is the trail of events that concern no practice (an
// unknown API client's refused request, gateway-wide administration).
const SystemTenant = "gateway"

// Actor is who performs an operation: a user, an API client or the gateway.
type Actor struct {
	ID    string // "user:alice", "client:ehr-7", "system"
	OrgID string // the organisation the actor acts for
	// As picks the side when the actor's organisation is both referrer and
	// receiver (an intra-practice referral); empty lets the target state decide.
	As Side
}

// System is the gateway itself acting (routing, receipts, timeouts).
var System = Actor{ID: "system"}

// Service is the referral core. It is safe for concurrent use.
type Service struct {
	store    Store
	sealer   *Sealer
	clock    Clock
	cfg      Config
	channels map[ChannelKind]Channel
	log      *slog.Logger
	edges    edgeAggregator
	owners   owners

	inboundMu sync.Mutex
	inbound   map[ChannelKind]InboundHandler // see SetInboundHandler

	hooks *edgeHooks // see OnVersion and HandleJobKind
	// auditVerifier is what VerifyAudit checks against.
	auditVerifier AuditVerifier
}

// NewService wires the core.
func NewService(store Store, sealer *Sealer, clock Clock, cfg Config, log *slog.Logger, channels ...Channel) *Service {
	def := DefaultConfig()
	if cfg.BAAWarningWindow == 0 {
		cfg.BAAWarningWindow = def.BAAWarningWindow
	}
	if cfg.ChannelRetries == 0 {
		cfg.ChannelRetries = def.ChannelRetries
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = def.RetryBackoff
	}
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The store seals PHI with the same keys the service seals records with.
	if ks, ok := store.(interface{ UseSealer(*Sealer) }); ok && sealer != nil {
		ks.UseSealer(sealer)
	}
	hooks := &edgeHooks{}
	store = hookedStore{Store: store, hooks: hooks} // innermost: see hookedStore
	if cfg.Metrics != nil {
		store = observedStore{Store: store, m: cfg.Metrics}
	}
	s := &Service{store: store, sealer: sealer, clock: clock, cfg: cfg, channels: map[ChannelKind]Channel{}, log: log}
	s.hooks = hooks
	for _, c := range channels {
		s.channels[c.Kind()] = c
	}
	return s
}

// AddChannel registers a channel after construction (channels that need
// the service, such as a FHIR push channel following receiver Tasks).
func (s *Service) AddChannel(c Channel) { s.channels[c.Kind()] = c }

// Clock returns the service's clock.
func (s *Service) Clock() Clock { return s.clock }

// Config returns the service configuration.
func (s *Service) Config() Config { return s.cfg }

// NewID returns a new time-ordered identifier, valid as a FHIR id.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// NewRecord is a record supplied when a referral is created.
type NewRecord struct {
	Title       string `json:"title"`
	ContentType string `json:"contentType"`
	Content     []byte `json:"data"` // base64 in JSON
}

// NewReferral is the input of CreateReferral.
type NewReferral struct {
	Identifier string      `json:"identifier,omitempty"`
	Requester  Requester   `json:"requester"`
	ReceiverID string      `json:"receiverId"`
	Patient    Patient     `json:"patient"`
	Reason     Coding      `json:"reason"`
	ReasonText string      `json:"reasonText,omitempty"`
	Priority   Priority    `json:"priority,omitempty"`
	Consent    ConsentRef  `json:"consent"`
	Sensitive  Sensitivity `json:"sensitivity"`
	Records    []NewRecord `json:"records,omitempty"`
	// Order is the requester's order as its system sent it (for FHIR, the
	// ServiceRequest), kept sealed beside the records so that an edge can
	// render and forward it unchanged; nil when there is none.
	Order []byte `json:"-"`
	// Submit sends the referral at once (draft → requested) when its gates pass.
	Submit bool `json:"submit,omitempty"`
	// Replaces is set by Replace; callers use Replace instead.
	Replaces string `json:"-"`
	// BasedOn is set by Reverse; callers use Reverse instead.
	BasedOn string `json:"-"`
}

// Validate checks the input fields and names every invalid one.
func (n *NewReferral) Validate() error {
	var errs ValidationErrors
	req := func(field, v string) {
		if v == "" {
			errs = append(errs, &ValidationError{field, "required"})
		}
	}
	req("requester.orgId", n.Requester.OrgID)
	req("receiverId", n.ReceiverID)
	req("patient.id", n.Patient.ID)
	req("reason.code", n.Reason.Code)
	if n.Requester.NPI != "" && !ValidNPI(n.Requester.NPI) {
		errs = append(errs, &ValidationError{"requester.npi", "not a valid NPI"})
	}
	if n.Patient.BirthDate != "" {
		if _, err := time.Parse(time.DateOnly, n.Patient.BirthDate); err != nil {
			errs = append(errs, &ValidationError{"patient.birthDate", "must be YYYY-MM-DD"})
		}
	}
	switch n.Priority {
	case "", PriorityRoutine, PriorityUrgent, PriorityASAP, PriorityStat:
	default:
		errs = append(errs, &ValidationError{"priority", "must be routine, urgent, asap or stat"})
	}
	switch n.Consent.Kind {
	case ConsentTreatment, ConsentAuthorization, ConsentRequiredByLaw, ConsentPart2:
	case "":
		errs = append(errs, &ValidationError{"consent.kind", "required: treatment, authorization, required-by-law or part2"})
	default:
		errs = append(errs, &ValidationError{"consent.kind", "must be treatment, authorization, required-by-law or part2"})
	}
	for i, rec := range n.Records {
		if rec.Title == "" {
			errs = append(errs, &ValidationError{fmt.Sprintf("records[%d].title", i), "required"})
		}
		if rec.ContentType == "" {
			errs = append(errs, &ValidationError{fmt.Sprintf("records[%d].contentType", i), "required"})
		}
		if len(rec.Content) == 0 {
			errs = append(errs, &ValidationError{fmt.Sprintf("records[%d].data", i), "empty content"})
		}
	}
	return errs.orNil()
}

// CreateReferral stores a new draft referral with its records (sealed) and,
// when n.Submit is set, submits it in the same transaction. A gate that
// refuses the submission leaves the draft stored with the gap named in
// Blocked and returns the typed refusal together with the referral.
func (s *Service) CreateReferral(ctx context.Context, actor Actor, n NewReferral) (*Referral, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if actor.OrgID != "" && actor.OrgID != n.Requester.OrgID {
		return nil, fmt.Errorf("create referral for %s as %s: %w", n.Requester.OrgID, actor.OrgID, ErrForbidden)
	}
	if p := ScopeFrom(ctx).Practice; p != "" && p != n.Requester.OrgID {
		return nil, fmt.Errorf("create referral for %s acting for %s: %w", n.Requester.OrgID, p, ErrForbidden)
	}
	ctx = actAs(ctx, n.Requester.OrgID)
	var (
		r       *Referral
		refusal error
	)
	err := s.update(ctx, func(tx Tx) error {
		var err error
		r, refusal, err = s.createTx(ctx, tx, actor, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create referral: %w", err)
	}
	return r, refusal
}

// createTx stores a validated new referral in tx and, when n.Submit is
// set, submits it; it returns the referral and a gate refusal, or a
// storage or validation error.
func (s *Service) createTx(ctx context.Context, tx Tx, actor Actor, n NewReferral) (*Referral, error, error) {
	now := s.clock.Now()
	r := &Referral{
		ID: NewID(), Version: 1, Created: now, Updated: now, Status: StatusDraft,
		Priority: n.Priority, Identifier: n.Identifier, Requester: n.Requester, ReceiverID: n.ReceiverID,
		Patient: n.Patient, Reason: n.Reason, ReasonText: n.ReasonText, Consent: n.Consent,
		Sensitive: n.Sensitive, Replaces: n.Replaces, BasedOn: n.BasedOn,
	}
	if r.Priority == "" {
		r.Priority = PriorityRoutine
	}
	if n.Identifier != "" {
		if dup, err := tx.ReferralByIdentifier(ctx, n.Requester.OrgID, n.Identifier); err == nil {
			return nil, nil, &DuplicateError{What: "referral identifier", Value: n.Identifier, Scope: n.Requester.OrgID, ExistingID: "referral " + dup.ID}
		} else if !errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
	}
	org, err := tx.Entry(ctx, n.Requester.OrgID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, &ValidationError{"requester.orgId", fmt.Sprintf("%q is not in the directory", n.Requester.OrgID)}
	} else if err != nil {
		return nil, nil, err
	}
	if org.Kind != KindOrganization {
		return nil, nil, &ValidationError{"requester.orgId", fmt.Sprintf("%q is a %s, not an organization", org.ID, org.Kind)}
	}
	recv, err := tx.Entry(ctx, n.ReceiverID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, &ValidationError{"receiverId", fmt.Sprintf("unknown receiver %q: not in the directory", n.ReceiverID)}
	} else if err != nil {
		return nil, nil, err
	}
	r.ReceiverKind = recv.Kind
	chain, err := ancestry(ctx, tx, n.ReceiverID)
	if err != nil {
		return nil, nil, err
	}
	r.ReceiverOrgID = chain[len(chain)-1].ID
	sealed := make([][]byte, len(n.Records))
	for i, nr := range n.Records {
		rec := Record{ID: NewID(), Title: nr.Title, ContentType: nr.ContentType, SHA256: ContentHash(nr.Content), Size: int64(len(nr.Content))}
		if sealed[i], err = s.sealContent(tx, r.ID, rec.ID, nr.Content); err != nil {
			return nil, nil, err
		}
		r.Records = append(r.Records, rec)
	}
	var order []byte
	if len(n.Order) > 0 {
		if r.Order, order, err = s.sealOrder(r, n.Order); err != nil {
			return nil, nil, err
		}
	}
	// The referral goes in first: on PostgreSQL a record's row is visible
	// (and may be written) only through the referral it belongs to.
	if err := tx.InsertReferral(ctx, r); err != nil {
		return nil, nil, err
	}
	for i, rec := range r.Records {
		if err := tx.PutRecordContent(ctx, r.ID, rec, sealed[i]); err != nil {
			return nil, nil, err
		}
	}
	if r.Order != nil {
		if err := tx.PutRecordContent(ctx, r.ID, *r.Order, order); err != nil {
			return nil, nil, fmt.Errorf("store order of %s: %w", r.ID, err)
		}
	}
	created := map[string]string{"receiver": r.ReceiverID, "records": fmt.Sprint(len(r.Records)), "consent": string(r.Consent.Kind)}
	if r.BasedOn != "" {
		created["basedOn"] = r.BasedOn
	}
	if r.Replaces != "" {
		created["replaces"] = r.Replaces
	}
	if err := s.audit(ctx, tx, actor, r, "referral.created", audit.OutcomeSuccess, created); err != nil {
		return nil, nil, err
	}
	if !n.Submit {
		return r, nil, nil
	}
	refusal, err := s.submitTx(ctx, tx, actor, r)
	if err != nil {
		return nil, nil, err
	}
	return r, refusal, nil
}

// Submit runs the gates on a draft and, when they pass, moves it to
// requested and queues its first delivery in the same transaction. A
// refusal is recorded on the draft (Blocked) and in the audit trail, and
// returned as its typed error.
func (s *Service) Submit(ctx context.Context, actor Actor, id string) (*Referral, error) {
	return s.SubmitAt(ctx, actor, id, 0)
}

// SubmitAt is Submit for a caller that saw the draft at expectVersion (a
// FHIR update with If-Match, a Transition with ExpectVersion): if the
// draft has changed since, nothing is sent and the error wraps ErrConflict,
// decided in the transaction that would have sent it. 0 expects nothing.
func (s *Service) SubmitAt(ctx context.Context, actor Actor, id string, expectVersion int) (*Referral, error) {
	var r *Referral
	var refusal error
	ctx, err := s.forReferral(ctx, actor, id)
	if err != nil {
		return nil, fmt.Errorf("submit referral %s: %w", id, err)
	}
	err = s.update(ctx, func(tx Tx) error {
		var err error
		r, err = tx.Referral(ctx, id, true)
		if err != nil {
			return err
		}
		if err := s.authorize(actor, r, SideReferrer); err != nil {
			return err
		}
		if expectVersion != 0 && expectVersion != r.Version {
			return &VersionConflict{ID: "referral " + id, Version: r.Version, Want: expectVersion}
		}
		if r.Status != StatusDraft {
			return &TransitionError{Machine: "referral", From: string(r.Status), To: string(StatusRequested), Rule: "only a draft is submitted"}
		}
		refusal, err = s.submitTx(ctx, tx, actor, r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("submit referral %s: %w", id, err)
	}
	return r, refusal
}

// submitTx is the send gate. It returns (refusal, nil) when a gate refused
// (the refusal is stored and audited), or (nil, err) on a storage error.
func (s *Service) submitTx(ctx context.Context, tx Tx, actor Actor, r *Referral) (error, error) {
	g, err := s.gates(ctx, tx, r, false)
	if err != nil {
		return nil, err
	}
	var kind ChannelKind
	gateErr := g.refusal
	if gateErr == nil {
		if kind, gateErr = s.route(ctx, tx, g.receiver, g.chain, nil); gateErr != nil && !isRoutingError(gateErr) {
			return nil, gateErr // storage, or a lookup to do outside the transaction
		}
	}
	now := s.clock.Now()
	if gateErr != nil {
		r.Blocked = gateErr.Error()
		r.Refusals = append(r.Refusals, gateName(gateErr))
		r.Version++
		r.Updated = now
		if err := tx.UpdateReferral(ctx, r); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, tx, actor, r, "referral.send-refused", audit.OutcomeRefused, map[string]string{
			"gate": gateName(gateErr), "reason": gateErr.Error()}); err != nil {
			return nil, err
		}
		return gateErr, nil
	}
	if err := s.vendorEvidence(ctx, tx, kind, g.evidence); err != nil {
		return nil, err
	}
	for _, ev := range []struct {
		action string
		detail map[string]string
	}{
		{"consent.checked", pick(g.evidence, "basis", "rule", "purpose", "consentRecords", "consentScope", "part2Notice")},
		{"minimum-necessary.checked", pick(g.evidence, "minimumNecessary")},
		{"baa.checked", withPrefix(g.evidence, "baa.", map[string]string{"receiver": r.ReceiverID})},
		{"referral.routed", map[string]string{"channel": string(kind)}},
	} {
		if err := s.audit(ctx, tx, actor, r, ev.action, audit.OutcomeSuccess, ev.detail); err != nil {
			return nil, err
		}
	}
	r.Blocked = ""
	if err := s.move(ctx, tx, actor, r, StatusRequested, TransitionInput{}); err != nil {
		return nil, err
	}
	return nil, s.queueDelivery(ctx, tx, r, kind)
}

// gateName classifies a refusal for the trail.
func gateName(err error) string {
	var (
		ce *ConsentError
		be *BAAError
		me *MinimumNecessaryError
		re *RoutingError
		ue *UnverifiedRecipientError
	)
	switch {
	case errors.As(err, &ce):
		return "consent"
	case errors.As(err, &be):
		return "baa"
	case errors.As(err, &me):
		return "minimum-necessary"
	case errors.As(err, &re):
		return "routing"
	case errors.As(err, &ue):
		return "verification"
	}
	return "other"
}

// gateResult is what the send gates found: the receiver and its ancestry,
// a refusal (nil when every gate passed), and the decrypted records when
// the caller asked for them.
type gateResult struct {
	receiver *Entry
	chain    []*Entry
	refusal  error
	records  []RecordContent
	// evidence is what the passing gates relied on, for the audit trail.
	evidence evidence
}

// gates checks, in order, the receiver's verification, the consent basis,
// minimum necessary and the receiver's BAA. withRecords decrypts every
// record for the caller (a send needs them); otherwise only the text
// records the minimum-necessary scan reads are decrypted. The error is a
// storage failure, never a refusal.
func (s *Service) gates(ctx context.Context, tx Tx, r *Referral, withRecords bool) (gateResult, error) {
	chain, err := ancestry(ctx, tx, r.ReceiverID)
	if err != nil {
		return gateResult{}, err
	}
	g := gateResult{receiver: chain[0], chain: chain, evidence: evidence{}}
	verified := false
	for _, e := range chain {
		verified = verified || e.Verified()
	}
	if !verified {
		g.refusal = &UnverifiedRecipientError{ReceiverID: g.receiver.ID}
		return g, nil
	}
	consents, err := tx.Consents(ctx, r.Requester.OrgID, r.Patient.ID)
	if err != nil {
		return gateResult{}, err
	}
	used, refusal := checkConsent(r, entryIDs(chain), consents, s.clock.Now())
	if g.refusal = refusal; g.refusal != nil {
		return g, nil
	}
	g.evidence.consentEvidence(r, used)
	g.evidence.consentScope(used, consents)
	if withRecords || r.MinimumNecessaryOverride == nil {
		if g.records, err = s.recordContents(ctx, tx, r, !withRecords); err != nil {
			return gateResult{}, err
		}
	}
	if r.MinimumNecessaryOverride == nil {
		texts := map[string][]byte{}
		for _, rc := range g.records {
			texts[rc.ID] = rc.Content
		}
		if f := ScanReferral(r, texts); len(f) > 0 {
			g.refusal = &MinimumNecessaryError{Findings: f}
			return g, nil
		}
		g.evidence["minimumNecessary"] = fmt.Sprintf("passed: free text and %d text records scanned, no findings", len(texts))
	} else {
		o := r.MinimumNecessaryOverride
		g.evidence["minimumNecessary"] = fmt.Sprintf("overridden by %s at %s", o.Actor, o.At.UTC().Format(time.RFC3339))
	}
	g.refusal, err = s.baaGate(ctx, tx, chain, "receiver", g.evidence)
	return g, err
}

// baaGate finds the BAA nearest to the party (itself, then its parents) and
// refuses unless it is active or expiring.
// The BAA that let PHI through is noted in ev (which may be nil).
func (s *Service) baaGate(ctx context.Context, tx Tx, chain []*Entry, role string, ev evidence) (error, error) {
	for _, e := range chain {
		b, err := tx.BAAForParty(ctx, e.ID)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		st := b.Effective(s.clock.Now(), s.cfg.BAAWarningWindow)
		if !st.PermitsPHI() {
			return &BAAError{PartyID: e.ID, State: st, Role: role}, nil
		}
		ev.recordBAA(role, b, st)
		return nil, nil
	}
	return &BAAError{PartyID: chain[0].ID, Role: role}, nil
}

// route picks the first channel in the receiver's order that is registered,
// reachable, not yet tried, and whose vendor (if any) has a usable BAA.
func (s *Service) route(ctx context.Context, tx Tx, receiver *Entry, chain []*Entry, tried map[ChannelKind]bool) (ChannelKind, error) {
	var reasons []string
	for _, kind := range receiver.Channels() {
		if tried[kind] {
			reasons = append(reasons, fmt.Sprintf("%s already failed", kind))
			continue
		}
		reason, err := s.usable(ctx, tx, kind, receiver)
		if err != nil {
			return "", err
		}
		if reason == "" {
			return kind, nil
		}
		reasons = append(reasons, reason)
	}
	return "", &RoutingError{ReceiverID: receiver.ID, Reasons: reasons}
}

// usable says why channel kind cannot carry PHI to receiver now ("" if it can).
func (s *Service) usable(ctx context.Context, tx Tx, kind ChannelKind, receiver *Entry) (string, error) {
	ch, ok := s.channels[kind]
	if !ok {
		return fmt.Sprintf("%s: channel not configured", kind), nil
	}
	if kind == ChannelFHIR && !receiver.OnPlatform {
		return "fhir: receiver is not on the platform", nil
	}
	if why := checkRefusal(receiver, kind); why != "" {
		return why, nil
	}
	if reason, err := reachable(ctx, kind, ch, receiver); err != nil {
		return "", err
	} else if reason != nil {
		return fmt.Sprintf("%s: %v", kind, reason), nil
	}
	if vendorID, ok := s.cfg.Vendors[kind]; ok && vendorID != "" {
		vendor, err := tx.Entry(ctx, vendorID)
		if errors.Is(err, ErrNotFound) {
			return fmt.Sprintf("%s: vendor %s not in the directory", kind, vendorID), nil
		} else if err != nil {
			return "", err
		}
		gerr, err := s.baaGate(ctx, tx, []*Entry{vendor}, string(kind)+" vendor", nil)
		if err != nil {
			return "", err
		}
		if gerr != nil {
			return fmt.Sprintf("%s: %v", kind, gerr), nil
		}
	}
	return "", nil
}

// vendorEvidence notes in ev the BAA of the vendor channel kind passes
// through (a fax vendor, a HISP), once routing has chosen kind.
func (s *Service) vendorEvidence(ctx context.Context, tx Tx, kind ChannelKind, ev evidence) error {
	vendorID, ok := s.cfg.Vendors[kind]
	if !ok || vendorID == "" {
		return nil
	}
	vendor, err := tx.Entry(ctx, vendorID)
	if errors.Is(err, ErrNotFound) {
		return nil // routing already refused this channel
	} else if err != nil {
		return err
	}
	_, err = s.baaGate(ctx, tx, []*Entry{vendor}, string(kind)+" vendor", ev)
	return err
}

// queueDelivery records a queued delivery on kind and its job.
func (s *Service) queueDelivery(ctx context.Context, tx Tx, r *Referral, kind ChannelKind) error {
	return s.queueDeliveryAt(ctx, tx, r, kind, time.Time{})
}

// queueDeliveryAt is queueDelivery for a send that must wait until runAt.
func (s *Service) queueDeliveryAt(ctx context.Context, tx Tx, r *Referral, kind ChannelKind, runAt time.Time) error {
	now := s.clock.Now()
	d := &Delivery{ID: NewID(), ReferralID: r.ID, Channel: kind, State: DeliveryQueued, Created: now, Updated: now}
	if err := tx.InsertDelivery(ctx, d); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, System, r, "delivery.queued", audit.OutcomeSuccess, map[string]string{
		"delivery": d.ID, "channel": string(kind)}); err != nil {
		return err
	}
	s.owners.put("d:"+d.ID, r.Requester.OrgID)
	return tx.Enqueue(ctx, Job{Kind: JobDeliver, DeliveryID: d.ID, Practice: r.Requester.OrgID, RunAt: runAt})
}

// ancestry returns the entry followed by its parents up to the root.
func ancestry(ctx context.Context, tx Tx, id string) ([]*Entry, error) {
	var chain []*Entry
	seen := map[string]bool{}
	for id != "" && !seen[id] && len(chain) < 16 {
		seen[id] = true
		e, err := tx.Entry(ctx, id)
		if err != nil {
			if len(chain) > 0 && errors.Is(err, ErrNotFound) {
				break // a dangling parent ends the chain
			}
			return nil, fmt.Errorf("directory entry %s: %w", id, err)
		}
		chain = append(chain, e)
		id = e.ParentID
	}
	return chain, nil
}

func entryIDs(chain []*Entry) []string {
	ids := make([]string, len(chain))
	for i, e := range chain {
		ids[i] = e.ID
	}
	return ids
}

// recordContents decrypts a referral's records, or only its text records
// (those the minimum-necessary scan reads) when textOnly is set.
func (s *Service) recordContents(ctx context.Context, tx Tx, r *Referral, textOnly bool) ([]RecordContent, error) {
	out := make([]RecordContent, 0, len(r.Records))
	for _, rec := range r.Records {
		if textOnly && !isText(rec.ContentType) {
			continue
		}
		sealed, err := tx.RecordContent(ctx, r.ID, rec.ID)
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", rec.ID, err)
		}
		pt, err := s.openContent(ctx, tx, r.ID, rec.ID, sealed)
		if err != nil {
			return nil, err
		}
		if ContentHash(pt) != rec.SHA256 {
			return nil, fmt.Errorf("record %s: content hash mismatch", rec.ID)
		}
		out = append(out, RecordContent{Record: rec, Content: pt})
	}
	return out, nil
}

// audit appends an event about r to the trails of both practices.
func (s *Service) audit(ctx context.Context, tx Tx, actor Actor, r *Referral, action, outcome string, detail map[string]string) error {
	tenants := []string{r.Requester.OrgID}
	if r.ReceiverOrgID != "" && r.ReceiverOrgID != r.Requester.OrgID {
		tenants = append(tenants, r.ReceiverOrgID)
	}
	return tx.Audit(ctx, audit.Event{Time: s.clock.Now(), Actor: actor.ID, Tenants: tenants, ReferralID: r.ID,
		Action: action, Outcome: outcome, Detail: detail})
}

// Referral loads one referral with its deliveries.
func (s *Service) Referral(ctx context.Context, id string) (*Referral, []*Delivery, error) {
	var r *Referral
	var ds []*Delivery
	ctx, err := s.forReferral(ctx, Actor{}, id)
	if err != nil {
		return nil, nil, fmt.Errorf("referral %s: %w", id, err)
	}
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		if r, err = tx.Referral(ctx, id, false); err != nil {
			return err
		}
		ds, err = tx.Deliveries(ctx, id)
		return err
	})
	if err != nil {
		return nil, nil, err // the store names the referral
	}
	return r, ds, nil
}

// RecordContents returns a referral's decrypted records.
func (s *Service) RecordContents(ctx context.Context, r *Referral) ([]RecordContent, error) {
	ctx = actAs(ctx, r.Requester.OrgID)
	var out []RecordContent
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = s.recordContents(ctx, tx, r, false)
		return err
	})
	return out, err
}

// sealContent seals content for (id, part) inside tx and has the store
// keep the data key it was sealed with in the same transaction.
func (s *Service) sealContent(tx Tx, id, part string, content []byte) ([]byte, error) {
	sealed, err := s.sealer.Seal(id, part, content)
	if err != nil {
		return nil, err
	}
	if k, ok := asTx[interface{ KeepDataKey(*Sealer) }](tx); ok {
		k.KeepDataKey(s.sealer)
	}
	return sealed, nil
}

// openContent opens content sealed for (id, part), first loading its data
// key from the store when the sealer does not hold it: through tx, or,
// when tx is nil (the caller's transaction has ended), a read of its own.
func (s *Service) openContent(ctx context.Context, tx Tx, id, part string, sealed []byte) ([]byte, error) {
	if dk, ok := DataKeyOf(sealed); ok && !s.sealer.HasDataKey(dk) {
		load := func(tx Tx) error {
			if k, ok := asTx[interface {
				LoadDataKey(context.Context, *Sealer, []byte) error
			}](tx); ok {
				return k.LoadDataKey(ctx, s.sealer, sealed)
			}
			return nil
		}
		var err error
		if tx != nil {
			err = load(tx)
		} else {
			err = s.store.View(ctx, load)
		}
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", id, part, err)
		}
	}
	return s.sealer.Open(id, part, sealed)
}
