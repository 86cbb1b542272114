package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// SyncAll runs Sync over every open referral, a page at a time, and
// returns how many changed. A failure to follow one referral does not stop
// the others; the failures are returned joined, naming referral ids only.
func (c *Channel) SyncAll(ctx context.Context, svc *gateway.Service) (int, error) {
	// Following every practice's pushed referrals is gateway-wide work;
	// each Sync then acts for the referral's own practice.
	listCtx := gateway.GatewayWide(ctx, "fhir-follow")
	changed := 0
	var errs []error
	after := ""
	for {
		page, err := svc.ListReferrals(listCtx, gateway.ReferralQuery{Statuses: openStatuses,
			DeliveredOn: gateway.ChannelFHIR, AfterID: after, Limit: 100})
		if err != nil {
			return changed, fmt.Errorf("fhir: sync: list: %w", err)
		}
		for _, r := range page {
			got, err := c.Sync(ctx, svc, r.ID)
			switch {
			case err != nil:
				errs = append(errs, err)
			case got.Version != r.Version:
				changed++
			}
		}
		if len(page) < 100 {
			return changed, errors.Join(errs...)
		}
		after = page[len(page)-1].ID
	}
}

// Follow calls SyncAll every interval until ctx ends, reporting each
// round's failures to onError (which may be nil).
func (c *Channel) Follow(ctx context.Context, svc *gateway.Service, every time.Duration, onError func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.SyncAll(ctx, svc); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}
