package subscription

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/outbound"
	"github.com/referralgw/gateway/internal/retryafter"
)

// actor is who the trail names for notifications.
const actor = "system:fhir-subscriptions"

// Notifier delivers notifications for active subscriptions and the
// handshake for requested ones, as jobs on the core's queue (Register).
// Every gateway instance registers one; a subscription is served by one
// job at a time (a lease in its delivery state, columns of the
// subscription's row, guards the network call, which no transaction may
// hold).
type Notifier struct {
	svc *gateway.Service
	cfg Config
	log *slog.Logger
	id  string // this instance, as lease holder
}

// NewNotifier returns a notifier over svc. A nil log discards.
func NewNotifier(svc *gateway.Service, cfg Config, log *slog.Logger) *Notifier {
	cfg.fill(svc)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{svc: svc, cfg: cfg, log: log, id: gateway.NewID()}
}

// Poll makes one pass over every subscription at once: every requested
// subscription gets its handshake, every active one the Task versions it
// has not had yet (up to Config.Batch), skipping those waiting out a
// backoff. In service the queue runs this per subscription (Register);
// Poll is for tools and tests that drive the notifier by hand.
func (n *Notifier) Poll(ctx context.Context) error {
	now := n.cfg.Clock()
	all, err := n.svc.Subscriptions(ctx, gateway.SubscriptionQuery{})
	if err != nil {
		return fmt.Errorf("subscription: poll: %w", err)
	}
	subs := make([]*Subscription, 0, len(all))
	for _, c := range all {
		subs = append(subs, fromCore(c))
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, n.cfg.Parallel)
	)
	for _, s := range subs {
		if s.Status != StatusRequested && s.Status != StatusActive {
			continue
		}
		ended := !s.End.IsZero() && !now.Before(s.End)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			serve := n.serve
			if ended {
				serve = n.end
			}
			if err := serve(ctx, s); err != nil && !errors.Is(err, errBusy) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serve handles one subscription for one poll.
func (n *Notifier) serve(ctx context.Context, s *Subscription) error {
	c, err := n.svc.Subscription(ctx, s.ID)
	if errors.Is(err, gateway.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("subscription: state %s: %w", s.ID, err)
	}
	st := &c.Delivery
	if n.cfg.Clock().Before(st.NextAttempt) {
		return nil
	}
	var pending []*gateway.Referral
	if s.Status == StatusActive {
		if pending, err = n.pending(ctx, s, st); err != nil || len(pending) == 0 {
			return err
		}
	}
	holder := n.id + "/" + gateway.NewID() // one run: two jobs of one process exclude each other too
	if held, err := n.acquire(ctx, s, st.Version, holder); err != nil {
		return err
	} else if !held {
		return errBusy
	}
	defer n.release(ctx, s.ID, holder)
	if s.Status == StatusRequested {
		result, ok, wait := n.send(ctx, s, ping(s))
		n.audit(ctx, s, "fhir.subscription.handshake", nil, ok, result, st.Failures+1)
		if !ok {
			return n.fail(ctx, s, result, wait)
		}
		if active, err := n.activate(ctx, s); err != nil || !active {
			return err
		}
		st.Failures = 0
		if pending, err = n.pending(ctx, s, st); err != nil {
			return err
		}
	}
	for _, r := range pending {
		if ctx.Err() != nil {
			return nil
		}
		note, err := renderNotification(s, r)
		if err != nil {
			return err
		}
		result, ok, wait := n.send(ctx, s, note)
		n.audit(ctx, s, "fhir.subscription.notify", r, ok, result, st.Failures+1)
		if !ok {
			return n.fail(ctx, s, result, wait)
		}
		st.Failures = 0
		if more, err := n.delivered(ctx, s, r, holder); err != nil || !more {
			return err
		}
	}
	return nil
}

// pending lists the Task versions s has not been sent, oldest change
// first: referrals matching the criteria updated since the cursor (less
// the overlap, never before the start) whose current version is newer
// than the one last sent.
func (n *Notifier) pending(ctx context.Context, s *Subscription, st *State) ([]*gateway.Referral, error) {
	from := st.Cursor.Add(-n.cfg.Overlap)
	if from.Before(st.Start) {
		from = st.Start
	}
	q := gateway.ReferralQuery{UpdatedFrom: from, Limit: 200}
	switch s.Criteria.Param {
	case "owner":
		q.ReceiverOrg = s.Criteria.OrgID
	case "requester":
		q.RequesterOrg = s.Criteria.OrgID
	default:
		return nil, fmt.Errorf("subscription %s: unknown criteria %q", s.ID, s.Criteria.Param)
	}
	var out []*gateway.Referral
	for {
		page, err := n.svc.ListReferrals(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("subscription: list referrals for %s: %w", s.ID, err)
		}
		for _, r := range page {
			sent := st.Sent[r.ID].Version
			if !matches(s, r) || sent >= r.Version || r.Updated.Before(from) {
				continue
			}
			if r.Version == sent+1 {
				out = append(out, r)
				continue
			}
			// Every version not yet sent, not only the latest: one
			// notification per Task version.
			versions, err := n.svc.ReferralVersions(ctx, r.ID)
			if err != nil {
				return nil, fmt.Errorf("subscription: versions of %s for %s: %w", r.ID, s.ID, err)
			}
			for _, v := range versions {
				if v.Version > sent && !v.Updated.Before(from) && matches(s, v) {
					out = append(out, v)
				}
			}
		}
		if len(page) < q.Limit {
			break
		}
		q.AfterID = page[len(page)-1].ID
	}
	slices.SortFunc(out, func(a, b *gateway.Referral) int {
		if c := a.Updated.Compare(b.Updated); c != 0 {
			return c
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return out[:min(len(out), n.cfg.Batch)], nil
}

// matches checks a referral against the subscription's criteria and its
// organisation once more, whatever the store returned: a subscription
// never hears of a referral its organisation is not a party to.
func matches(s *Subscription, r *gateway.Referral) bool {
	org := s.OrgID
	if org == "" || s.Criteria.OrgID != org {
		return false
	}
	switch s.Criteria.Param {
	case "owner":
		return r.ReceiverOrgID == org || r.ReceiverID == org
	case "requester":
		return r.Requester.OrgID == org
	}
	return false
}

// end turns off a subscription whose end has passed, as R4 asks.
func (n *Notifier) end(ctx context.Context, s *Subscription) error {
	ended := false
	_, err := n.svc.ChangeSubscription(ctx, s.ID, func(c *gateway.Subscription) error {
		if c.Version != s.Version {
			return nil // changed meanwhile; the next run decides
		}
		c.Status = gateway.SubscriptionOff
		ended = true
		return nil
	})
	if errors.Is(err, gateway.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("subscription: end %s: %w", s.ID, err)
	}
	if ended {
		n.record(ctx, audit.Event{Actor: actor, Tenants: []string{s.OrgID}, Action: "fhir.subscription.ended", Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"subscription": s.ID}})
	}
	return nil
}

// send makes one notification request and reports a short result ("http
// 200", "timeout", "connection failed"), whether it succeeded (2xx), and
// how long the endpoint asked us to wait when it answered 429 or 503 with
// Retry-After.
func (n *Notifier) send(ctx context.Context, s *Subscription, note notification) (result string, ok bool, wait time.Duration) {
	u, err := url.Parse(note.url)
	if err != nil || !(u.Scheme == "https" || (u.Scheme == "http" && n.cfg.AllowHTTP)) {
		return "endpoint refused", false, 0
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if note.body != nil {
		body = bytes.NewReader(note.body)
	}
	req, err := http.NewRequestWithContext(ctx, note.method, note.url, body)
	if err != nil {
		return "endpoint refused", false, 0
	}
	if note.body != nil {
		req.Header.Set("Content-Type", "application/fhir+json; charset=utf-8")
	}
	req.Header.Set("Accept", "application/fhir+json")
	for _, h := range s.Header {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	res, err := n.cfg.HTTPClient.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, outbound.ErrNotPublic):
			return "endpoint address not public", false, 0
		case errors.Is(err, context.DeadlineExceeded):
			return "timeout", false, 0
		}
		return "connection failed", false, 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return "http " + strconv.Itoa(res.StatusCode), res.StatusCode >= 200 && res.StatusCode < 300,
		retryafter.FromResponse(res, n.cfg.Clock())
}

// activate moves a requested subscription to active after its handshake,
// unless the client changed it meanwhile. It reports whether the
// subscription is active.
func (n *Notifier) activate(ctx context.Context, s *Subscription) (bool, error) {
	active := false
	_, err := n.svc.ChangeSubscription(ctx, s.ID, func(c *gateway.Subscription) error {
		if c.Status != gateway.SubscriptionRequested || c.Version != s.Version {
			return nil
		}
		c.Status, c.Error = gateway.SubscriptionActive, ""
		c.Delivery.Failures, c.Delivery.NextAttempt = 0, time.Time{}
		active = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("subscription: activate %s: %w", s.ID, err)
	}
	if active {
		s.Status, s.Version = StatusActive, s.Version+1
	}
	return active, nil
}

// delivered records a sent Task version: the cursor moves to its change,
// the failure count resets, and marks older than the overlap are dropped.
// It reports whether the subscription is still active.
func (n *Notifier) delivered(ctx context.Context, s *Subscription, r *gateway.Referral, holder string) (bool, error) {
	now := n.cfg.Clock().UTC()
	more := false
	_, err := n.svc.ChangeSubscription(ctx, s.ID, func(c *gateway.Subscription) error {
		if c.Criteria.Param != s.Criteria.Param || c.Criteria.OrgID != s.Criteria.OrgID {
			return nil // a new criteria started afresh meanwhile
		}
		st := &c.Delivery
		if st.Sent == nil {
			st.Sent = map[string]Mark{}
		}
		if st.Sent[r.ID].Version < r.Version {
			st.Sent[r.ID] = Mark{Version: r.Version, Updated: r.Updated}
		}
		if r.Updated.After(st.Cursor) {
			st.Cursor = r.Updated
		}
		for id, m := range st.Sent {
			if m.Updated.Before(st.Cursor.Add(-n.cfg.Overlap)) {
				delete(st.Sent, id)
			}
		}
		st.Failures, st.NextAttempt = 0, time.Time{}
		more = c.Status == gateway.SubscriptionActive && st.Holder == holder
		if more {
			st.HeldUntil = now.Add(n.leaseFor())
		}
		return nil
	})
	if errors.Is(err, gateway.ErrNotFound) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("subscription: record delivery %s: %w", s.ID, err)
	}
	return more, nil
}

// fail counts a failed attempt: the next one waits out a doubling backoff,
// or longer when the endpoint asked for it (wait, from its Retry-After), and
// after Config.MaxFailures consecutive failures the subscription goes to
// status error and is not tried again until its client resumes it.
func (n *Notifier) fail(ctx context.Context, s *Subscription, result string, wait time.Duration) error {
	now := n.cfg.Clock().UTC()
	stopped := false
	var failures int
	_, err := n.svc.ChangeSubscription(ctx, s.ID, func(c *gateway.Subscription) error {
		if c.Status != gateway.SubscriptionRequested && c.Status != gateway.SubscriptionActive {
			return nil // turned off meanwhile
		}
		st := &c.Delivery
		st.Failures++
		failures = st.Failures
		st.NextAttempt = now.Add(max(n.cfg.backoff(st.Failures), wait))
		if st.Failures >= n.cfg.MaxFailures {
			stopped = true
			st.NextAttempt = time.Time{}
			c.Status = gateway.SubscriptionError
			c.Error = fmt.Sprintf("the rest-hook endpoint failed %d consecutive attempts (last: %s at %s); notifications stopped: set status requested to resume",
				st.Failures, result, mapping.Instant(now))
		}
		return nil
	})
	if errors.Is(err, gateway.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("subscription: record failure %s: %w", s.ID, err)
	}
	if stopped {
		n.log.WarnContext(ctx, "fhir subscription stopped", "subscription", s.ID, "org", s.OrgID, "failures", failures, "result", result)
		n.record(ctx, audit.Event{Actor: actor, Tenants: []string{s.OrgID}, Action: "fhir.subscription.error", Outcome: audit.OutcomeFailure,
			Detail: map[string]string{"subscription": s.ID, "failures": strconv.Itoa(failures), "result": result}})
	}
	return nil
}

// audit records one attempt with ids and metadata only.
func (n *Notifier) audit(ctx context.Context, s *Subscription, action string, r *gateway.Referral, ok bool, result string, attempt int) {
	ev := audit.Event{Actor: actor, Tenants: []string{s.OrgID}, Action: action, Outcome: audit.OutcomeSuccess,
		Detail: map[string]string{"subscription": s.ID, "result": result, "attempt": strconv.Itoa(attempt)}}
	if !ok {
		ev.Outcome = audit.OutcomeFailure
	}
	if r != nil {
		ev.ReferralID = r.ID
		ev.Detail["version"] = strconv.Itoa(r.Version)
	}
	n.record(ctx, ev)
}

func (n *Notifier) record(ctx context.Context, ev audit.Event) {
	if err := n.svc.RecordAudit(context.WithoutCancel(ctx), ev); err != nil {
		n.log.ErrorContext(ctx, "audit fhir subscription", "action", ev.Action, "err", err)
	}
}
