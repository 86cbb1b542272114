package gateway

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/referralgw/gateway/audit"
)

// DirectoryRound is the progress of the newest directory re-verification
// round (JobVerifyDirectory), put together from what the queue and the
// directory already hold: the round document (its number, start and how
// many entries it queued), the queue's unfinished entry checks, and the
// checks recorded on the entries since the round started. It carries ids
// and counts only.
type DirectoryRound struct {
	// Round is the newest round's number: rounds started so far (0: none).
	Round   int       `json:"round"`
	Started time.Time `json:"started,omitzero"`
	// Listed is true once the round has queued a check of every entry
	// with an endpoint; Entries is how many it queued.
	Listed  bool `json:"listed"`
	Entries int  `json:"entries"`
	// Checked counts the entries with a check recorded since the round
	// started, and among them those whose worst channel is OK, Failed or
	// Unknown. An entry queued but never recorded (nothing this gateway
	// can check, its endpoint changed meanwhile, or its check gave up
	// after its retries) is not counted.
	Checked int `json:"checked"`
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
	// FailedEntries names the entries with a failed check (the first
	// maxFailedEntries, in id order).
	FailedEntries []string `json:"failedEntries"`
	// Pending counts the entry checks queued and not yet done, by state.
	Pending JobCounts `json:"pending"`
	// Finished is true once the round is listed and no entry check is
	// pending; FinishedAt is then when its last check was recorded.
	Finished   bool      `json:"finished"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// RoundsWaiting counts the rounds queued that have not started (one
	// that was asked for, or the next periodic one).
	RoundsWaiting int `json:"roundsWaiting"`
	// Serving is true when some process works the queue (a running
	// `gateway serve`); queued rounds wait for one otherwise.
	Serving bool `json:"serving"`
}

// maxFailedEntries bounds DirectoryRound.FailedEntries.
const maxFailedEntries = 50

// RequestDirectoryCheck asks for a directory re-verification round that
// starts after this call (see RequestRound), audited as the actor's, why
// saying what prompted it. It returns how many rounds had started: the
// round that answers the request is numbered above it. A running `gateway
// serve` runs it, or the next to start.
func (s *Service) RequestDirectoryCheck(ctx context.Context, actor Actor, why string) (int, error) {
	ctx, err := directoryScope(ctx, actor)
	if err != nil {
		return 0, fmt.Errorf("request directory check: %w", err)
	}
	var after int
	err = s.store.Update(ctx, func(tx Tx) error {
		if after, err = requestRound(ctx, tx, JobVerifyDirectory); err != nil {
			return err
		}
		return s.adminEvent(ctx, tx, actor, "", "directory.check-requested", audit.OutcomeSuccess,
			map[string]string{"after": strconv.Itoa(after), "why": why})
	})
	if err != nil {
		return 0, fmt.Errorf("request directory check: %w", err)
	}
	return after, nil
}

// DirectoryRound reports the progress of the newest directory
// re-verification round.
func (s *Service) DirectoryRound(ctx context.Context) (*DirectoryRound, error) {
	ctx = readScope(ctx, PathDirectory)
	out := &DirectoryRound{FailedEntries: []string{}}
	var listedAt time.Time
	err := s.store.View(ctx, func(tx Tx) error {
		rd, _, err := readRound(ctx, tx, JobVerifyDirectory)
		if err != nil {
			return err
		}
		out.Round, out.Started, out.Listed, out.Entries, listedAt = rd.Started, rd.StartedAt, rd.Listed, rd.Items, rd.ListedAt
		// Read after the document: a listed round's entry jobs were
		// committed before it said so.
		if out.Pending, err = tx.UnfinishedJobs(ctx, JobVerifyEntry); err != nil {
			return err
		}
		rounds, err := tx.UnfinishedJobs(ctx, JobVerifyDirectory)
		if err != nil {
			return err
		}
		out.RoundsWaiting = rounds.Waiting
		out.Serving, err = tx.QueueWorked(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory round: %w", err)
	}
	if out.Round == 0 {
		return out, nil
	}
	last := listedAt
	after := ""
	for {
		page, err := s.ListEntries(ctx, EntryQuery{AfterID: after, Limit: 200})
		if err != nil {
			return nil, fmt.Errorf("directory round: %w", err)
		}
		for _, e := range page {
			worst := CheckStatus("")
			for _, c := range e.Checks {
				if c.At.Before(out.Started) {
					continue
				}
				if c.At.After(last) {
					last = c.At
				}
				if worst == "" || c.Status == CheckFailed || (c.Status == CheckUnknown && worst == CheckOK) {
					worst = c.Status
				}
			}
			switch worst {
			case "":
				continue
			case CheckFailed:
				out.Failed++
				if len(out.FailedEntries) < maxFailedEntries {
					out.FailedEntries = append(out.FailedEntries, e.ID)
				}
			case CheckUnknown:
				out.Unknown++
			default:
				out.OK++
			}
			out.Checked++
		}
		if len(page) < 200 {
			break
		}
		after = page[len(page)-1].ID
	}
	if out.Listed && out.Pending.Total() == 0 {
		out.Finished, out.FinishedAt = true, last
	}
	return out, nil
}
