package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// checkOptions are the flags of `directory check`.
type checkOptions struct {
	wait, status, asJSON bool
	timeout, interval    time.Duration
}

// directoryCheck asks for a directory check round now (or, with --status,
// only shows the newest round). Like the other one-shot commands it
// queues the work in the database and leaves it to `gateway serve`: a
// running serve runs the round within a poll of its queue, and when none
// runs the request waits, durably, for the next to start. With --wait it
// follows the round it asked for until that round has finished: exit 0
// when no entry's check failed, 1 when some did (named) or the wait ended
// first.
func directoryCheck(ctx context.Context, a *app, who gateway.Actor, o checkOptions, stdout, stderr io.Writer) error {
	if o.status {
		st, err := a.svc.DirectoryRound(ctx)
		if err != nil {
			return err
		}
		if o.asJSON {
			return printJSON(stdout, st)
		}
		printRound(stdout, st)
		return nil
	}
	after, err := a.svc.RequestDirectoryCheck(ctx, who, "asked")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "directory check requested: the next round to start (round %d or later) checks every entry with an endpoint\n", after+1)
	st, err := a.svc.DirectoryRound(ctx)
	if err != nil {
		return err
	}
	if !st.Serving {
		fmt.Fprintln(stdout, notServing)
	}
	if !o.wait {
		fmt.Fprintln(stdout, "follow it with: gateway directory check --status")
		return nil
	}
	return waitForRound(ctx, a, after, o, stdout, stderr)
}

// notServing says why a request may wait.
const notServing = "no gateway serve is working the queue on this database: the round runs when one starts (the request is kept)"

// waitForRound polls the newest round until one numbered above after has
// finished, printing its progress to stderr as it changes.
func waitForRound(ctx context.Context, a *app, after int, o checkOptions, stdout, stderr io.Writer) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	var last string
	var st *gateway.DirectoryRound
	for {
		var err error
		if st, err = a.svc.DirectoryRound(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			line := roundProgress(st, after)
			if line != last {
				fmt.Fprintln(stderr, line)
				last = line
			}
			if st.Round > after && st.Finished {
				printRound(stdout, st)
				if st.Failed > 0 {
					return errSilent
				}
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			what := "the requested round has not started"
			if st != nil && st.Round > after {
				what = fmt.Sprintf("round %d has not finished (%d of %d entries checked)", st.Round, st.Checked, st.Entries)
			}
			why := "stopped waiting"
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				why = fmt.Sprintf("waited %s", o.timeout)
			}
			return fmt.Errorf("directory check: %s: %s; it goes on in gateway serve (see gateway directory check --status)", why, what)
		}
	}
}

// roundProgress is one line of --wait's progress.
func roundProgress(st *gateway.DirectoryRound, after int) string {
	if st.Round <= after {
		s := "waiting for the requested round to start"
		if !st.Serving {
			s += " (" + notServing + ")"
		}
		return s
	}
	if !st.Listed {
		return fmt.Sprintf("round %d: started, queuing the entries' checks", st.Round)
	}
	line := fmt.Sprintf("round %d: %d of %d entries checked (%d failed, %d unknown)", st.Round, st.Checked, st.Entries, st.Failed, st.Unknown)
	if p := st.Pending; p.Total() > 0 {
		line += fmt.Sprintf("; %d waiting, %d running, %d retrying", p.Waiting, p.Running, p.Retrying)
	}
	return line
}

// printRound writes what the newest round did.
func printRound(w io.Writer, st *gateway.DirectoryRound) {
	const at = "2006-01-02 15:04:05 UTC"
	switch {
	case st.Round == 0:
		fmt.Fprintln(w, "no directory check round has started yet")
	case st.Finished:
		fmt.Fprintf(w, "round %d: started %s, finished %s\n", st.Round, st.Started.UTC().Format(at), st.FinishedAt.UTC().Format(at))
	default:
		fmt.Fprintf(w, "round %d: started %s, still running\n", st.Round, st.Started.UTC().Format(at))
	}
	if st.Round > 0 {
		entries := "entries still being queued"
		if st.Listed {
			entries = fmt.Sprintf("%d entries queued", st.Entries)
		}
		fmt.Fprintf(w, "  %s; %d checked: %d ok, %d failed, %d unknown\n", entries, st.Checked, st.OK, st.Failed, st.Unknown)
		if st.Finished && st.Checked < st.Entries {
			fmt.Fprintf(w, "  %d without a result (nothing this gateway can check, the endpoint changed meanwhile, or the check gave up)\n", st.Entries-st.Checked)
		}
		if p := st.Pending; p.Total() > 0 {
			fmt.Fprintf(w, "  pending: %d waiting, %d running, %d retrying\n", p.Waiting, p.Running, p.Retrying)
		}
		if len(st.FailedEntries) > 0 {
			more := ""
			if n := st.Failed - len(st.FailedEntries); n > 0 {
				more = fmt.Sprintf(" and %d more", n)
			}
			fmt.Fprintf(w, "  failed: %s%s (gateway directory show ID gives the reason)\n", strings.Join(st.FailedEntries, ", "), more)
		}
	}
	if st.RoundsWaiting > 0 {
		fmt.Fprintf(w, "  %d round(s) queued to start\n", st.RoundsWaiting)
	}
	switch {
	case st.Serving:
	case st.RoundsWaiting > 0:
		fmt.Fprintln(w, "  "+notServing)
	default:
		fmt.Fprintln(w, "  no gateway serve is working the queue on this database")
	}
}

// requestCheckAfterImport asks for a check round once an import changed
// the directory, so that new and changed entries are checked now rather
// than at the next interval.
func requestCheckAfterImport(ctx context.Context, a *app, who gateway.Actor, changed int, stdout io.Writer) error {
	if changed == 0 {
		return nil
	}
	after, err := a.svc.RequestDirectoryCheck(ctx, who, "directory import")
	if err != nil {
		return fmt.Errorf("imported, but asking for a directory check failed: %w", err)
	}
	fmt.Fprintf(stdout, "directory check requested for the imported entries (round %d or later; gateway directory check --status follows it)\n", after+1)
	return nil
}
