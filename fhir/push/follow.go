package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// Sync follows a pushed referral: it reads the receiver's copy of the Task
// (the delivered FHIR delivery's RemoteID) and, when the receiver moved it
// to another status, applies that move through the core as the receiver,
// with the reason, question, business status or consult note the remote
// Task carries. Referrals that were not pushed, or are closed, are returned
// unchanged. A move the lifecycle does not allow (the receiver skipped a
// state) is refused by the core and returned as its *gateway.TransitionError.
func (c *Channel) Sync(ctx context.Context, svc *gateway.Service, referralID string) (*gateway.Referral, error) {
	r, ds, err := svc.Referral(ctx, referralID)
	if err != nil {
		return nil, err
	}
	var pushed *gateway.Delivery
	for _, d := range ds {
		if d.Channel == gateway.ChannelFHIR && d.State == gateway.DeliveryDelivered && d.RemoteID != "" {
			pushed = d
		}
	}
	if pushed == nil || !r.Open() {
		return r, nil
	}
	to, err := svc.Entry(ctx, r.ReceiverID)
	if err != nil {
		return nil, fmt.Errorf("fhir: sync %s: %w", r.ID, err)
	}
	if to.FHIR == nil || to.FHIR.BaseURL == "" {
		return r, nil
	}
	body, err := c.exchange(ctx, to, http.MethodGet, "Task/"+url.PathEscape(pushed.RemoteID), nil)
	if err != nil {
		return nil, fmt.Errorf("fhir: sync %s: read remote Task: %w", r.ID, err)
	}
	remote, err := mapping.ParseTaskUpdate(body)
	if err != nil {
		return nil, gateway.Permanent(fmt.Errorf("fhir: sync %s: remote Task: %w", r.ID, err))
	}
	if remote.Status == r.Status || (remote.Status == gateway.StatusRequested && r.Status == gateway.StatusReceived) {
		return r, nil
	}
	ours, err := json.Marshal(mapping.NewTask(r))
	if err != nil {
		return nil, err
	}
	prev, err := mapping.ParseTaskUpdate(ours)
	if err != nil {
		return nil, err
	}
	in := mapping.Changes(prev, remote)
	in.ExpectVersion = r.Version // the remote versionId is the receiver's, not ours
	actor := gateway.Actor{ID: "fhir:" + to.ID, OrgID: r.ReceiverOrgID, As: gateway.SideReceiver}
	if actor.OrgID == "" {
		actor.OrgID = r.ReceiverID
	}
	updated, err := svc.Transition(ctx, actor, r.ID, remote.Status, in)
	if err != nil {
		if errors.Is(err, gateway.ErrConflict) {
			return nil, fmt.Errorf("fhir: sync %s: changed meanwhile, try again: %w", r.ID, err)
		}
		return nil, fmt.Errorf("fhir: sync %s: %w", r.ID, err)
	}
	return updated, nil
}

// openStatuses are the states in which a receiver may still move a
// pushed referral.
var openStatuses = []gateway.Status{gateway.StatusReceived, gateway.StatusAccepted, gateway.StatusOnHold, gateway.StatusInProgress}

// followPage is how many referrals one round lists, and queues jobs for,
// per transaction.
const followPage = 100

// eachFollowed calls fn with every page of open referrals delivered on
// FHIR, in id order.
func eachFollowed(ctx context.Context, svc *gateway.Service, fn func([]*gateway.Referral) error) error {
	// Following every practice's pushed referrals is gateway-wide work;
	// each Sync then acts for the referral's own practice.
	listCtx := gateway.GatewayWide(ctx, "fhir-follow")
	after := ""
	for {
		page, err := svc.ListReferrals(listCtx, gateway.ReferralQuery{Statuses: openStatuses,
			DeliveredOn: gateway.ChannelFHIR, AfterID: after, Limit: followPage})
		if err != nil {
			return fmt.Errorf("fhir: follow: list: %w", err)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if len(page) < followPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// SyncAll runs Sync over every open referral in this process, and returns
// how many changed. A failure to follow one referral does not stop the
// others; the failures are returned joined, naming referral ids only.
// `gateway serve` follows through the queue instead (see Follow).
func (c *Channel) SyncAll(ctx context.Context, svc *gateway.Service) (int, error) {
	changed := 0
	var errs []error
	err := eachFollowed(ctx, svc, func(page []*gateway.Referral) error {
		for _, r := range page {
			got, err := c.Sync(ctx, svc, r.ID)
			switch {
			case err != nil:
				errs = append(errs, err)
			case got.Version != r.Version:
				changed++
			}
		}
		return nil
	})
	if err != nil {
		return changed, err
	}
	return changed, errors.Join(errs...)
}

// The job kinds that follow pushed referrals on the core's queue.
const (
	// JobFollowRound lists the open referrals delivered on FHIR and queues
	// a JobFollowReferral for each. It is periodic: the queue's leader
	// queues one round every interval, whatever the number of nodes. Ask
	// for one sooner with Service.RequestRound, which queues a round that
	// starts after the request even while another runs (queuing the job
	// itself would be merged into the running round).
	JobFollowRound gateway.JobKind = "fhir-follow"
	// JobFollowReferral reads one referral's Task back from its receiver
	// and applies the receiver's move (Ref is the referral id). It is
	// exclusive: a referral whose follow is still waiting, running or
	// retrying is not queued again by the next round.
	JobFollowReferral gateway.JobKind = "fhir-follow-referral"
)

// Follow makes svc's queue follow pushed referrals every interval: a
// periodic round fans out one job per open referral delivered on FHIR,
// each doing Sync (the read from the receiver happens outside any
// transaction; the change goes through Service.Transition). A receiver
// that does not answer fails the job, which the queue retries with
// backoff. Call it before the store's StartWorkers.
func (c *Channel) Follow(svc *gateway.Service, every time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &follower{ch: c, svc: svc, log: log}
	svc.HandleJobKind(JobFollowRound, f)
	svc.HandleJobKind(JobFollowReferral, f)
	return svc.Every(JobFollowRound, every)
}

// follower handles the follow jobs.
type follower struct {
	ch  *Channel
	svc *gateway.Service
	log *slog.Logger
}

// HandleJob implements gateway.JobHandler.
func (f *follower) HandleJob(ctx context.Context, j gateway.Job, meta gateway.JobMeta) error {
	switch j.Kind {
	case JobFollowRound:
		queued := 0
		err := eachFollowed(ctx, f.svc, func(page []*gateway.Referral) error {
			jobs := make([]gateway.Job, len(page))
			for i, r := range page {
				jobs[i] = gateway.Job{Kind: JobFollowReferral, Ref: r.ID, Exclusive: true}
			}
			queued += len(jobs)
			return f.svc.EnqueueJobs(ctx, jobs...)
		})
		if err == nil && queued > 0 {
			f.log.DebugContext(ctx, "fhir follow round", "referrals", queued)
		}
		return err
	case JobFollowReferral:
		_, err := f.ch.Sync(ctx, f.svc, j.Ref)
		var te *gateway.TransitionError
		if gateway.IsPermanent(err) || errors.As(err, &te) {
			// The receiver's Task cannot be read as a move we may apply
			// (unparseable, or a step the lifecycle refuses): retrying the
			// same answer cannot help; the next round reads it again.
			f.log.WarnContext(ctx, "fhir follow: receiver's Task not applied", "referral", j.Ref, "err", err)
			return nil
		}
		return err
	}
	return fmt.Errorf("fhir: follow: unexpected job kind %q", j.Kind)
}
