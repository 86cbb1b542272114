package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/internal/allowance"
	"github.com/referralgw/gateway/internal/peer"
)

// Actor is who the trail names as the author of a callback.
const Actor = "vendor:fax"

// Defaults of Config.
const (
	DefaultMaxBody         = 1 << 20
	DefaultReplayRetention = 400 * 24 * time.Hour
)

// Config sets up the handler. CallbackURL and Token are required.
type Config struct {
	// CallbackURL is the exact public URL the vendor posts to and signs.
	CallbackURL string
	// Token is the vendor account's callback token (the HMAC key).
	Token []byte
	// MaxBody bounds a callback body (DefaultMaxBody when zero).
	MaxBody int64
	// ReplayRetention is how long a processed callback is remembered
	// (DefaultReplayRetention when zero).
	ReplayRetention time.Duration
	// FailuresPerMinute and FailureBurst bound the callbacks from one
	// client address that may fail verification (unsigned, wrongly signed,
	// malformed); beyond them the address is answered 429 before anything
	// is read, verified or written (defaults DefaultFailuresPerMinute and
	// DefaultFailureBurst).
	FailuresPerMinute, FailureBurst int
	// Logger receives fax ids, delivery ids and status words only
	// (discarded when nil).
	Logger *slog.Logger
}

// core is what the handler uses of *gateway.Service.
type core interface {
	DeliveryByRemoteID(ctx context.Context, channel gateway.ChannelKind, remoteID string) (*gateway.Delivery, error)
	Delivery(ctx context.Context, id string) (*gateway.Delivery, error)
	Referral(ctx context.Context, id string) (*gateway.Referral, []*gateway.Delivery, error)
	RecordReceiptOnce(ctx context.Context, k gateway.KeyedReceipt) (bool, *gateway.Delivery, error)
	RecordAudit(ctx context.Context, ev audit.Event) error
	RecordEdge(ctx context.Context, ev gateway.EdgeEvent) error
	Clock() gateway.Clock
}

// handler is the http.Handler Handler returns.
type handler struct {
	svc     core
	cfg     Config
	bad     error // the configuration's defect, if any
	fails   *allowance.Limit
	settled settledCallbacks // what repeats of signed callbacks are answered with
}

// Validate reports what a configuration lacks.
func (c Config) Validate() error {
	var errs []error
	if c.CallbackURL == "" {
		errs = append(errs, errors.New("callback URL is required"))
	}
	if len(c.Token) == 0 {
		errs = append(errs, errors.New("callback token is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fax callback: config: %w", err)
	}
	return nil
}

// Handler returns the POST /fax/callback endpoint. It answers 200 when the
// callback was applied or is a replay, 401 when the signature is missing or
// wrong, 404 when the fax is not one of ours, 400 for a malformed callback,
// 405 for another method, 429 when the client address has sent too many
// callbacks that failed verification, 409 when the delivery cannot take the receipt in
// its state, and 500 when the core could not record it (the vendor retries). With a
// configuration that fails Validate it refuses every request with 500, so
// that an empty token can never verify anything.
func Handler(svc *gateway.Service, cfg Config) http.Handler {
	if svc == nil {
		return newHandler(nil, cfg)
	}
	return newHandler(svc, cfg)
}

// newHandler fills in cfg's defaults around a core.
func newHandler(svc core, cfg Config) *handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.ReplayRetention <= 0 {
		cfg.ReplayRetention = DefaultReplayRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FailuresPerMinute <= 0 {
		cfg.FailuresPerMinute = DefaultFailuresPerMinute
	}
	if cfg.FailureBurst <= 0 {
		cfg.FailureBurst = DefaultFailureBurst
	}
	bad := cfg.Validate()
	if bad == nil && svc == nil {
		bad = errors.New("fax callback: no service")
	}
	return &handler{svc: svc, cfg: cfg, bad: bad, fails: newFailureLimit(cfg.FailuresPerMinute, cfg.FailureBurst)}
}

// reply is the status and the words the vendor sees; refusals say no more
// than the status text.
func reply(w http.ResponseWriter, code int) {
	http.Error(w, http.StatusText(code), code)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if h.bad != nil {
		h.cfg.Logger.ErrorContext(ctx, "fax callback: handler not configured", "err", h.bad)
		reply(w, http.StatusInternalServerError)
		return
	}
	client := peer.Key(r.RemoteAddr)
	now := h.svc.Clock().Now()
	if wait := h.fails.Wait(client, now); wait > 0 {
		// Counted in memory by the edge record; at most one entry per
		// window is written however fast they come.
		h.refuseUnsigned(ctx, r, "throttled")
		w.Header().Set("Retry-After", retryAfter(wait))
		reply(w, http.StatusTooManyRequests)
		return
	}
	if r.Method != http.MethodPost {
		h.fails.Spend(client, now)
		h.refuseUnsigned(ctx, r, "method")
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	cb, err := phaxio.VerifyCallback(r, h.cfg.CallbackURL, h.cfg.Token)
	if err != nil {
		h.fails.Spend(client, now)
	}
	switch {
	case errors.Is(err, phaxio.ErrMissingSignature):
		h.refuseUnsigned(ctx, r, "signature missing")
		reply(w, http.StatusUnauthorized)
		return
	case errors.Is(err, phaxio.ErrBadSignature):
		h.refuseUnsigned(ctx, r, "signature mismatch")
		reply(w, http.StatusUnauthorized)
		return
	case err != nil:
		h.refuseUnsigned(ctx, r, "malformed")
		reply(w, http.StatusBadRequest)
		return
	}
	sig := r.Header.Get(phaxio.SignatureHeader)
	if c, ok := h.settled.get(sig, now); ok {
		ev := c.ev
		ev.Text = cb.FaxID.String()
		h.edge(ctx, ev)
		reply(w, c.code)
		return
	}
	code := h.apply(ctx, cb, sig)
	reply(w, code)
}

// apply records a verified callback and returns the HTTP status to answer;
// sig is its signature, under which a settled outcome is remembered.
func (h *handler) apply(ctx context.Context, cb *phaxio.Callback, sig string) int {
	faxID := cb.FaxID.String()
	base := map[string]string{"faxId": faxID, "status": string(cb.Status)}
	if cb.Direction != "" && cb.Direction != "sent" {
		h.refuse(ctx, "not a sent fax", cb)
		return http.StatusBadRequest
	}
	d, err := h.delivery(ctx, cb)
	if errors.Is(err, gateway.ErrNotFound) {
		h.refuse(ctx, "unknown fax", cb)
		return http.StatusNotFound
	} else if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "fax callback: find delivery", "fax", faxID, "err", err)
		return http.StatusInternalServerError
	}
	base["delivery"] = d.ID
	tenants := h.tenants(ctx, d)
	res := channel.PhaxioResult(cb.Status, cb.NumPages, cb.ErrorType, cb.ErrorCode, cb.ErrorMessage)
	rc := res.Receipt()
	if rc == nil {
		// Nothing to apply, and no replay key: a progress callback sent
		// again is recorded like a replay, bounded.
		h.repeatable(ctx, d, tenants, "fax.callback.progress", audit.OutcomeSuccess, string(cb.Status), cb)
		h.settle(sig, d, tenants, "fax.callback.progress", audit.OutcomeSuccess, string(cb.Status))
		return http.StatusOK
	}
	rc.RemoteID = faxID // recorded when the callback overtook the recording of the send

	// The replay key, the receipt and its audit entry commit together: a
	// crash between the signature check and the commit leaves nothing, and
	// the vendor's retry is applied.
	now := h.svc.Clock().Now()
	applied := map[string]string{"receipt": string(rc.Kind), "detail": rc.Detail}
	for k, v := range base {
		applied[k] = v
	}
	first, _, err := h.svc.RecordReceiptOnce(ctx, gateway.KeyedReceipt{DeliveryID: d.ID, Key: replayKey(faxID, cb.Status),
		Receipt: *rc, Expires: now.Add(h.cfg.ReplayRetention),
		Audit: &audit.Event{Time: now, Actor: Actor, Tenants: tenants, ReferralID: d.ReferralID,
			Action: "fax.callback", Outcome: audit.OutcomeSuccess, Detail: applied}})
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "fax callback: record receipt", "fax", faxID, "delivery", d.ID, "err", err)
		var te *gateway.TransitionError
		if errors.As(err, &te) {
			// Nothing was recorded, so every replay lands here again: bounded.
			h.repeatable(ctx, d, tenants, "fax.callback", audit.OutcomeFailure, "delivery state: "+string(cb.Status), cb)
			return http.StatusConflict
		}
		base["error"] = err.Error()
		h.audit(ctx, tenants, d.ReferralID, "fax.callback", audit.OutcomeFailure, base)
		return http.StatusInternalServerError
	}
	// From now on every post of this callback is a replay.
	h.settle(sig, d, tenants, "fax.callback.replay", audit.OutcomeRefused, string(cb.Status))
	if !first {
		h.repeatable(ctx, d, tenants, "fax.callback.replay", audit.OutcomeRefused, string(cb.Status), cb)
		return http.StatusOK
	}
	h.cfg.Logger.InfoContext(ctx, "fax callback applied", "fax", faxID, "delivery", d.ID, "status", string(cb.Status))
	return http.StatusOK
}

// delivery finds the fax delivery the callback reports on: by the fax id
// the send recorded or, when the callback overtook the recording of the
// send, by the delivery tag the channel put on the fax (signed by the
// vendor with the rest of the callback).
func (h *handler) delivery(ctx context.Context, cb *phaxio.Callback) (*gateway.Delivery, error) {
	faxID := cb.FaxID.String()
	d, err := h.svc.DeliveryByRemoteID(ctx, gateway.ChannelFax, faxID)
	if !errors.Is(err, gateway.ErrNotFound) {
		return d, err
	}
	tag := cb.Tags[channel.TagDelivery]
	if tag == "" || cb.Tags[phaxio.IdempotencyTag] != tag {
		return nil, err
	}
	d, terr := h.svc.Delivery(ctx, tag)
	if terr != nil {
		return nil, terr
	}
	if d.Channel != gateway.ChannelFax || (d.RemoteID != "" && d.RemoteID != faxID) {
		return nil, fmt.Errorf("delivery %s does not match fax %s: %w", d.ID, faxID, gateway.ErrNotFound)
	}
	return d, nil
}

// tenants are the practices whose trails record a callback on d.
func (h *handler) tenants(ctx context.Context, d *gateway.Delivery) []string {
	r, _, err := h.svc.Referral(ctx, d.ReferralID)
	if err != nil {
		return []string{gateway.SystemTenant}
	}
	out := []string{r.Requester.OrgID}
	if r.ReceiverOrgID != "" && r.ReceiverOrgID != r.Requester.OrgID {
		out = append(out, r.ReceiverOrgID)
	}
	return out
}

// replayKey names a callback among its delivery's: the fax id and the
// status it reports.
func replayKey(faxID string, st phaxio.Status) string { return "fax:" + faxID + "/" + string(st) }

// refuseUnsigned records a request refused before its signature was
// verified: anyone can send one, so it goes to the gateway's aggregated
// edge record (one entry per peer and reason per interval, with a count).
func (h *handler) refuseUnsigned(ctx context.Context, r *http.Request, reason string) {
	ev := gateway.EdgeEvent{Action: "fax.callback.refused", Source: clientAddr(r), Reason: reason}
	if reason == "method" {
		ev.Text = r.Method
	}
	if err := h.svc.RecordEdge(context.WithoutCancel(ctx), ev); err != nil {
		h.cfg.Logger.ErrorContext(ctx, "fax callback: audit", "action", ev.Action, "err", err)
	}
}

// A signed callback can be sent again by anyone who captured it, as often
// as they like, and each would cost an entry. What a callback cannot change
// (a replay, a refusal, progress) therefore goes to the aggregated edge
// record (gateway.Service.RecordEdge): the first of each kind per window at
// once, the rest as one entry with their count. Only a callback applied
// (its receipt and entry commit with its replay key) is recorded alone.

// refuse records a signed callback refused before it could be tied to a
// referral, in the gateway's own trail, per fax and reason.
func (h *handler) refuse(ctx context.Context, reason string, cb *phaxio.Callback) {
	h.edge(ctx, gateway.EdgeEvent{Action: "fax.callback.refused", Source: "fax:" + cb.FaxID.String(), Reason: reason,
		Text: string(cb.Status)})
}

// settle remembers how repeats of the callback signed sig are answered
// (200, recorded like repeatable) without reading the database again.
func (h *handler) settle(sig string, d *gateway.Delivery, tenants []string, action, outcome, reason string) {
	h.settled.put(sig, settledCallback{code: http.StatusOK, ev: repeatEvent(d, tenants, action, outcome, reason)}, h.svc.Clock().Now())
}

// repeatable records a signed callback on delivery d that changed nothing,
// in the referral's practices' trails, per delivery and reason (which names
// the status); the text is the fax id.
func (h *handler) repeatable(ctx context.Context, d *gateway.Delivery, tenants []string, action, outcome, reason string, cb *phaxio.Callback) {
	ev := repeatEvent(d, tenants, action, outcome, reason)
	ev.Text = cb.FaxID.String()
	h.edge(ctx, ev)
}

// repeatEvent is the edge record of a callback on d that changed nothing,
// without its text.
func repeatEvent(d *gateway.Delivery, tenants []string, action, outcome, reason string) gateway.EdgeEvent {
	return gateway.EdgeEvent{Action: action, Source: d.ID, Reason: reason, Tenants: tenants, ReferralID: d.ReferralID, Outcome: outcome}
}

func (h *handler) edge(ctx context.Context, ev gateway.EdgeEvent) {
	if err := h.svc.RecordEdge(context.WithoutCancel(ctx), ev); err != nil {
		h.cfg.Logger.ErrorContext(ctx, "fax callback: audit", "action", ev.Action, "err", err)
	}
}

// audit appends one event; a failure to audit is logged, as the reply has
// already been decided.
func (h *handler) audit(ctx context.Context, tenants []string, referralID, action, outcome string, detail map[string]string) {
	ev := audit.Event{Time: h.svc.Clock().Now(), Actor: Actor, Tenants: tenants, ReferralID: referralID,
		Action: action, Outcome: outcome, Detail: detail}
	if err := h.svc.RecordAudit(context.WithoutCancel(ctx), ev); err != nil {
		h.cfg.Logger.ErrorContext(ctx, "fax callback: audit", "action", action, "err", err)
	}
}

// clientAddr is the IP address of the request's peer.
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
