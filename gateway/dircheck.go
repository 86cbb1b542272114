package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
)

// CheckStatus is the outcome of the gateway's own check of a channel.
type CheckStatus string

// Check outcomes.
const (
	// CheckOK: the endpoint passed.
	CheckOK CheckStatus = "ok"
	// CheckFailed: the endpoint failed in a way that will not pass by
	// itself (a revoked or expired certificate, a FHIR base that is not a
	// FHIR server). Routing avoids the channel until a later check passes
	// or the endpoint changes.
	CheckFailed CheckStatus = "failed"
	// CheckUnknown: the check could not tell (a lookup timed out, a
	// revocation list could not be fetched). Routing is not affected.
	CheckUnknown CheckStatus = "unknown"
)

// ChannelCheck is the gateway's last check of one channel of an entry.
type ChannelCheck struct {
	Channel ChannelKind `json:"channel"`
	// Endpoint is what was checked (see CheckedEndpoint); a check of an
	// endpoint the entry no longer has is void.
	Endpoint string      `json:"endpoint"`
	At       time.Time   `json:"at"`
	Status   CheckStatus `json:"status"`
	Reason   string      `json:"reason,omitempty"`
}

// EndpointChecker is a Channel that can check a party's endpoint itself,
// over the network (certificate discovery and revocation, a server's
// CapabilityStatement). The core calls it outside any transaction.
type EndpointChecker interface {
	CheckEndpoint(ctx context.Context, to *Entry) (CheckStatus, string)
}

// CheckedEndpoint names the endpoint of to that a check of kind concerns,
// "" when to has none: the Direct address (with the directory
// certificate's fingerprint when the directory holds one), the FHIR base
// URL, the fax number.
func CheckedEndpoint(to *Entry, kind ChannelKind) string {
	switch kind {
	case ChannelDirect:
		if to.Direct == nil || to.Direct.Address == "" {
			return ""
		}
		if to.Direct.CertPEM == "" {
			return to.Direct.Address
		}
		sum := sha256.Sum256([]byte(to.Direct.CertPEM))
		return to.Direct.Address + " (directory certificate " + hex.EncodeToString(sum[:6]) + ")"
	case ChannelFHIR:
		if to.FHIR == nil || !to.OnPlatform {
			return ""
		}
		return to.FHIR.BaseURL
	case ChannelFax:
		if to.Fax == nil {
			return ""
		}
		return to.Fax.Number
	}
	return ""
}

// Check returns the entry's last check of kind, nil when there is none or
// it concerned another endpoint.
func (e *Entry) Check(kind ChannelKind) *ChannelCheck {
	ep := CheckedEndpoint(e, kind)
	for i := range e.Checks {
		if c := &e.Checks[i]; c.Channel == kind && ep != "" && c.Endpoint == ep {
			return c
		}
	}
	return nil
}

// checkRefusal is why routing avoids kind for receiver after a failed
// check ("" when it does not). A fax check reads only the vendor's BAA,
// which routing reads live, so it is not consulted here.
func checkRefusal(receiver *Entry, kind ChannelKind) string {
	if kind == ChannelFax {
		return ""
	}
	c := receiver.Check(kind)
	if c == nil || c.Status != CheckFailed {
		return ""
	}
	return fmt.Sprintf("%s: failed the gateway's check of %s at %s: %s", kind, c.Endpoint, c.At.UTC().Format(time.RFC3339), c.Reason)
}

// Directory re-verification jobs.
const (
	// JobVerifyDirectory queues a JobVerifyEntry for every entry with a
	// channel endpoint; `gateway serve` schedules it with Every.
	JobVerifyDirectory JobKind = "directory-verify"
	// JobVerifyEntry runs CheckEntry for one entry. Its Ref is the entry's
	// id and the number of the round that queued it ("cardio-b@7"), and it
	// is exclusive: a round never queues a slow check twice, and a round
	// that starts while an earlier round's check of the entry runs (which
	// may have read the entry before a change the new round is for)
	// queues its own check.
	JobVerifyEntry JobKind = "directory-verify-entry"
)

// checkedChannels are the channels CheckEntry looks at, in order.
var checkedChannels = []ChannelKind{ChannelFHIR, ChannelDirect, ChannelFax}

// CheckEntry re-checks what the gateway can check itself about each of the
// entry's channels: Direct and FHIR through their channels' EndpointChecker
// (network I/O, outside any transaction), fax by the fax vendor's BAA. It
// then records the results on the entry in one transaction, with an audit
// event for each channel whose status changed, and returns the entry.
func (s *Service) CheckEntry(ctx context.Context, id string) (*Entry, error) {
	ctx = GatewayWide(ctx, PathDirectory)
	e, err := s.Entry(ctx, id)
	if err != nil {
		return nil, err
	}
	var results []ChannelCheck
	for _, kind := range checkedChannels {
		ep := CheckedEndpoint(e, kind)
		ch, ok := s.channels[kind]
		if ep == "" || !ok {
			continue
		}
		c := ChannelCheck{Channel: kind, Endpoint: ep}
		if ck, ok := ch.(EndpointChecker); ok {
			c.Status, c.Reason = ck.CheckEndpoint(ctx, e)
		} else if kind != ChannelFax {
			continue
		}
		results = append(results, c)
	}
	err = s.update(ctx, func(tx Tx) error {
		cur, err := tx.Entry(ctx, id)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		var next []ChannelCheck
		for _, c := range results {
			if CheckedEndpoint(cur, c.Channel) != c.Endpoint {
				continue // changed meanwhile: the next round checks the new one
			}
			if c.Channel == ChannelFax && c.Status != CheckFailed {
				st, why, err := s.faxVendorCheck(ctx, tx)
				if err != nil {
					return err
				}
				if c.Status == "" || st != CheckOK {
					c.Status, c.Reason = st, why
				}
			}
			c.At = now
			if prev := cur.Check(c.Channel); prev == nil || prev.Status != c.Status {
				was := "none"
				if prev != nil {
					was = string(prev.Status)
				}
				outcome := audit.OutcomeSuccess
				if c.Status == CheckFailed {
					outcome = audit.OutcomeFailure
				}
				if err := s.adminEvent(ctx, tx, Actor{ID: "system:directory-check"}, rootOf(ctx, tx, cur), "directory.checked", outcome,
					map[string]string{"entry": id, "channel": string(c.Channel), "endpoint": c.Endpoint, "status": string(c.Status), "was": was, "reason": c.Reason}); err != nil {
					return err
				}
			}
			next = append(next, c)
		}
		// Channels this process did not check (not configured here, or with
		// nothing to check) keep what another process found, as long as the
		// entry still names the endpoint that was checked.
		for _, prev := range cur.Checks {
			if slices.ContainsFunc(results, func(c ChannelCheck) bool { return c.Channel == prev.Channel }) {
				continue
			}
			if CheckedEndpoint(cur, prev.Channel) == prev.Endpoint {
				next = append(next, prev)
			}
		}
		if err := tx.PutEntryChecks(ctx, id, next); err != nil {
			return err
		}
		cur.Checks = next
		e = cur
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check entry %s: %w", id, err)
	}
	return e, nil
}

// faxVendorCheck says whether the fax vendor's BAA lets PHI through now.
func (s *Service) faxVendorCheck(ctx context.Context, tx Tx) (CheckStatus, string, error) {
	vendorID := s.cfg.Vendors[ChannelFax]
	if vendorID == "" {
		return CheckOK, "no fax vendor is configured, so no vendor BAA gates fax", nil
	}
	vendor, err := tx.Entry(ctx, vendorID)
	if errors.Is(err, ErrNotFound) {
		return CheckFailed, fmt.Sprintf("fax vendor %s is not in the directory", vendorID), nil
	} else if err != nil {
		return "", "", err
	}
	gerr, err := s.baaGate(ctx, tx, []*Entry{vendor}, "fax vendor", nil)
	if err != nil {
		return "", "", err
	}
	if gerr != nil {
		return CheckFailed, gerr.Error(), nil
	}
	return CheckOK, fmt.Sprintf("fax vendor %s BAA in force", vendorID), nil
}

// verifyDirectory queues one exclusive JobVerifyEntry per entry with a
// channel endpoint, a page per transaction, then records on the round
// document how many it queued (see DirectoryRound).
func (s *Service) verifyDirectory(ctx context.Context) error {
	after, queued := "", 0
	for {
		page, err := s.ListEntries(GatewayWide(ctx, PathDirectory), EntryQuery{AfterID: after, Limit: 200})
		if err != nil {
			return fmt.Errorf("directory verify: list: %w", err)
		}
		var jobs []Job
		for _, e := range page {
			for _, kind := range checkedChannels {
				if CheckedEndpoint(e, kind) != "" {
					jobs = append(jobs, Job{Kind: JobVerifyEntry, Ref: entryCheckRef(e.ID, roundNumber(ctx)), Exclusive: true})
					break
				}
			}
		}
		if err := s.EnqueueJobs(ctx, jobs...); err != nil {
			return err
		}
		queued += len(jobs)
		if len(page) < 200 {
			return s.roundListed(ctx, JobVerifyDirectory, queued)
		}
		after = page[len(page)-1].ID
	}
}

// entryCheckRef is the Ref of round's JobVerifyEntry for entry id.
func entryCheckRef(id string, round int) string {
	if round == 0 {
		return id
	}
	return id + "@" + strconv.Itoa(round)
}

// entryCheckID is the entry a JobVerifyEntry's Ref names.
func entryCheckID(ref string) string {
	id, _, _ := strings.Cut(ref, "@")
	return id
}
