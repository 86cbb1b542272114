package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// timeline prints the audit events of the demo's nodes as they are
// committed: time, node, referral, action, channel and receipt. It reads
// the trails (ids and metadata only), so it shows exactly what an auditor
// would see, and never any PHI.
type timeline struct {
	w      io.Writer
	mu     sync.Mutex
	labels map[string]string // referral id → "#1 fhir"
	last   map[string]int64  // node/tenant → last printed seq
	seen   map[string]bool   // node/referral/action/time: a cross-practice event is printed once
	said   []nodeEntry       // narration waiting for the next poll, merged in time order
}

func newTimeline(w io.Writer) *timeline {
	return &timeline{w: w, labels: map[string]string{}, last: map[string]int64{}, seen: map[string]bool{}}
}

// label names a referral in the timeline.
func (tl *timeline) label(id, name string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.labels[id] = name
}

// say adds a line of the demo's own narration; it is printed with the
// next poll, in time order among the audit events.
func (tl *timeline) say(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.said = append(tl.said, nodeEntry{node: "demo", e: audit.Entry{Time: time.Now().UTC(), Action: fmt.Sprintf(format, args...)}})
}

// follow polls the nodes' trails every interval until ctx ends, then
// prints what is left.
func (tl *timeline) follow(ctx context.Context, nodes map[string]*gateway.Service, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			tl.poll(context.WithoutCancel(ctx), nodes)
			return
		case <-t.C:
			tl.poll(ctx, nodes)
		}
	}
}

type nodeEntry struct {
	node string
	e    audit.Entry
}

func (tl *timeline) poll(ctx context.Context, nodes map[string]*gateway.Service) {
	var fresh []nodeEntry
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	tl.mu.Lock()
	fresh, tl.said = append(fresh, tl.said...), nil
	for _, name := range names {
		for e, err := range nodes[name].AuditEntries(ctx, gateway.AuditQuery{}) {
			if err != nil {
				break
			}
			k := name + "/" + e.Tenant
			if e.Seq <= tl.last[k] {
				continue
			}
			tl.last[k] = e.Seq
			dk := fmt.Sprint(name, e.ReferralID, e.Action, e.Time.UnixNano(), e.Detail["delivery"])
			if tl.seen[dk] {
				continue
			}
			tl.seen[dk] = true
			fresh = append(fresh, nodeEntry{name, e})
		}
	}
	sort.SliceStable(fresh, func(i, j int) bool { return fresh[i].e.Time.Before(fresh[j].e.Time) })
	for _, f := range fresh {
		fmt.Fprintln(tl.w, tl.line(f))
	}
	tl.mu.Unlock()
}

// line renders one event; the caller holds mu.
func (tl *timeline) line(f nodeEntry) string {
	e := f.e
	if f.node == "demo" {
		return fmt.Sprintf("%s  %-4s  %s", e.Time.Local().Format("15:04:05.000"), "----", e.Action)
	}
	ref := "-"
	if e.ReferralID != "" {
		ref = tl.labels[e.ReferralID]
		if ref == "" {
			ref = shortID(e.ReferralID)
		}
	}
	var what []string
	for _, k := range []string{"entry", "party", "receipt", "applied", "gate", "reason", "detail", "to", "state"} {
		if v := e.Detail[k]; v != "" {
			what = append(what, clipText(v, 60))
		}
	}
	outcome := ""
	if e.Outcome != audit.OutcomeSuccess {
		outcome = " [" + strings.ToUpper(e.Outcome) + "]"
	}
	return fmt.Sprintf("%s  %-4s  %-12s %-28s %-7s %s", e.Time.Local().Format("15:04:05.000"), f.node, ref,
		e.Action+outcome, e.Detail["channel"], strings.Join(what, "; "))
}

// shortID is the last six characters of a time-ordered id.
func shortID(id string) string {
	if len(id) <= 6 {
		return id
	}
	return id[len(id)-6:]
}

func clipText(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
