package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// soakSnapshot is the process's goroutines and live heap after a forced GC.
type soakSnapshot struct {
	Goroutines int     `json:"goroutines"`
	HeapMB     float64 `json:"heapInUseMB"`
}

func snapshot() soakSnapshot {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return soakSnapshot{Goroutines: runtime.NumGoroutine(), HeapMB: float64(m.HeapInuse) / (1 << 20)}
}

// soakReport says whether the process came back to where it started once
// the load stopped.
type soakReport struct {
	Duration  string       `json:"duration"`
	Rounds    int          `json:"rounds"`
	Referrals int          `json:"referrals"`
	Warm      soakSnapshot `json:"afterWarmup"`
	Idle      soakSnapshot `json:"afterLoad"`
	PeakRSSMB float64      `json:"peakRssMB"`
}

// runSoak drives the channels in rounds of o.Referrals each for d, then
// lets the gateway go idle and compares goroutines and live heap with the
// snapshot taken after the first (warm-up) round. It reports; it does not
// judge.
func runSoak(ctx context.Context, o benchOptions, d time.Duration, progress io.Writer) (soakReport, error) {
	rep := soakReport{Duration: d.String()}
	dir, err := os.MkdirTemp("", "gateway-soak-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	timers := &benchTimers{}
	ln, err := startNet(ctx, netOptions{Dir: dir, DB: o.DB, AppRole: o.AppRole, Hooks: timers.hooks(), NoRounds: true, ExtraA: max(o.Nodes-1, 0)})
	if err != nil {
		return rep, fmt.Errorf("soak: start network: %w", err)
	}
	defer ln.close()
	defer func() { _ = ln.shutdown() }()
	if err := ln.seed(ctx); err != nil {
		return rep, err
	}
	pairs, err := benchPairs(ctx, ln, max(o.Practices, 1))
	if err != nil {
		return rep, err
	}
	quietOpts := o
	quietOpts.Progress = io.Discard
	round := func() error {
		for _, ch := range o.Channels {
			if _, err := benchChannel(ctx, ln, timers, ch, pairs, quietOpts); err != nil {
				return err
			}
			rep.Referrals += o.Referrals
		}
		rep.Rounds++
		return nil
	}
	if err := round(); err != nil {
		return rep, err
	}
	rep.Warm = snapshot()
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		if err := round(); err != nil {
			return rep, err
		}
		fmt.Fprintf(progress, "\rsoak: round %d, %d referrals, %s left   ", rep.Rounds, rep.Referrals, time.Until(end).Round(time.Second))
	}
	fmt.Fprintln(progress)
	// Let receipts, follow-ups and idle connections settle before looking.
	time.Sleep(5 * time.Second)
	rep.Idle = snapshot()
	rep.PeakRSSMB = peakRSSMB()
	return rep, nil
}

func printSoak(w io.Writer, r soakReport) {
	fmt.Fprintf(w, "soak %s: %d rounds, %d referrals delivered\n", r.Duration, r.Rounds, r.Referrals)
	fmt.Fprintf(w, "  goroutines  after warm-up %d, after the load stopped %d\n", r.Warm.Goroutines, r.Idle.Goroutines)
	fmt.Fprintf(w, "  heap in use after warm-up %.1f MB, after the load stopped %.1f MB (after GC)\n", r.Warm.HeapMB, r.Idle.HeapMB)
	fmt.Fprintf(w, "  peak RSS %.0f MB\n", r.PeakRSSMB)
}
