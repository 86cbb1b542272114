package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// benchOptions configure one benchmark run.
type benchOptions struct {
	Channels    []gateway.ChannelKind
	Referrals   int    // per channel
	Concurrency int    // referrals in flight at once
	DB          string // PostgreSQL URL; empty: embedded stores
	// AppRole, with DB, runs both nodes as this login role (created or
	// updated, NOSUPERUSER NOBYPASSRLS, owning nothing) after the schemas
	// are migrated as DB's user: row-level security binds it, as it
	// binds the gateway in production.
	AppRole  string
	Timeout  time.Duration // per channel
	Progress io.Writer     // the \r-updated progress line; nil: none
	// Practices is how many referrer/receiver pairs the referrals are
	// spread over (each pair has its own audit chains).
	Practices int
	// Baseline first measures plain 4-insert transactions on the same
	// database at the same concurrency for this long; zero: not at all.
	Baseline time.Duration
	// Nodes is how many gateway nodes serve the referring practice on its
	// PostgreSQL database (1: one).
	Nodes int
	// Warmup is how many referrals each channel first sends unmeasured, so
	// that the figures show the steady state: every pooled connection has
	// prepared and planned its statements (PostgreSQL plans a prepared
	// statement afresh for its first five runs on each connection), and
	// the caches have been filled.
	Warmup int

	// firstPatient offsets the synthetic patient numbers of a run, so a
	// warm-up and the measured run never share one.
	firstPatient int
}

// benchResult is one channel's figures.
type benchResult struct {
	Channel      string  `json:"channel"`
	Store        string  `json:"store"`
	Referrals    int     `json:"referrals"`
	Delivered    int     `json:"delivered"`
	Concurrency  int     `json:"concurrency"`
	WallSeconds  float64 `json:"wallSeconds"`
	PerSecond    float64 `json:"referralsPerSecond"`
	P50ms        float64 `json:"p50Ms"`
	P95ms        float64 `json:"p95Ms"`
	P99ms        float64 `json:"p99Ms"`
	CPUPerRef    float64 `json:"cpuSecondsPerReferral"`
	PeakRSSMB    float64 `json:"peakRssMB"`
	PeakGoMB     float64 `json:"peakGoMemoryMB"`
	CryptoShare  float64 `json:"cryptoShare"`
	DBShare      float64 `json:"databaseShare"`
	NetShare     float64 `json:"networkShare"`
	OtherShare   float64 `json:"otherSendShare"`
	CryptoMsRef  float64 `json:"cryptoMsPerReferral"`
	DBMsRef      float64 `json:"databaseMsPerReferral"`
	NetMsRef     float64 `json:"networkMsPerReferral"`
	OtherMsRef   float64 `json:"otherSendMsPerReferral"`
	LatencyMsRef float64 `json:"meanLatencyMs"`
	Practices    int     `json:"practices"`
	Nodes        int     `json:"nodes"`
	// TxPerRef and ViewsPerRef count the core's read-write and read-only
	// transactions (Store.Update, Store.View) per delivered referral, on
	// both nodes; River's own fetch and completion queries are not counted.
	TxPerRef    float64 `json:"transactionsPerReferral"`
	ViewsPerRef float64 `json:"readTransactionsPerReferral"`
	// RoundTripsPerRef counts the round trips to PostgreSQL inside those
	// transactions per delivered referral (BEGIN and COMMIT included; zero
	// on the embedded store).
	RoundTripsPerRef float64 `json:"roundTripsPerReferral"`
	// BaselinePerSec is the plain 4-insert transactions per second the
	// database committed at the same concurrency; Ratio is PerSecond over it.
	BaselinePerSec float64 `json:"baselineTransactionsPerSecond,omitempty"`
	Ratio          float64 `json:"ratioToBaseline,omitempty"`
}

func cmdBench(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", &cfg, stderr, dbFlag)
	ch := fs.String("channel", "all", "fhir, direct, fax or all")
	o := benchOptions{}
	fs.IntVar(&o.Referrals, "referrals", 200, "referrals per channel")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "referrals in flight at once")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up on a channel after this long")
	fs.IntVar(&o.Practices, "practices", 1, "referrer/receiver practice pairs the referrals are spread over")
	fs.IntVar(&o.Warmup, "warmup", 0, "referrals each channel sends first, unmeasured, so the figures show the steady state (prepared and planned statements, filled caches; on PostgreSQL the tables are then analyzed, as autovacuum would)")
	fs.IntVar(&o.Nodes, "nodes", 1, "gateway nodes serving the referring practice on one PostgreSQL database (needs --db)")
	baseline := fs.Bool("baseline", false, "first measure plain 4-insert transactions on the same database at the same concurrency and report the bench as a ratio to it")
	fs.DurationVar(&o.Baseline, "baseline-time", 5*time.Second, "with --baseline: how long the baseline runs")
	fs.StringVar(&o.AppRole, "app-role", "", "with --db: run the nodes as this application role (row-level security applies), as production does")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (read it with `go tool pprof`)")
	memProfile := fs.String("memprofile", "", "with --soak: write a heap profile, taken after the load stopped, to this file")
	soak := fs.Duration("soak", 0, "instead of one run, drive rounds of --referrals for this long and compare goroutines and heap after the load stops with after warm-up")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	switch *ch {
	case "all":
		o.Channels = []gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelDirect, gateway.ChannelFax}
	case "fhir", "direct", "fax":
		o.Channels = []gateway.ChannelKind{gateway.ChannelKind(*ch)}
	default:
		return usagef("--channel must be fhir, direct, fax or all")
	}
	if o.Referrals < 1 || o.Concurrency < 1 || o.Practices < 1 {
		return usagef("--referrals, --concurrency and --practices must be at least 1")
	}
	if o.Referrals >= 50000 || o.Warmup < 0 || o.Warmup >= 50000 {
		return usagef("--referrals and --warmup must each be under 50000 (the synthetic patient numbers of a channel)")
	}
	if o.Nodes < 1 || (o.Nodes > 1 && cfg.DB == "") {
		return usagef("--nodes must be at least 1, and more than 1 needs --db (PostgreSQL)")
	}
	if !*baseline {
		o.Baseline = 0
	}
	o.DB, o.Progress = cfg.DB, stderr
	if *soak > 0 {
		rep, err := runSoak(ctx, o, *soak, stderr)
		if err != nil {
			return err
		}
		if *memProfile != "" {
			f, err := os.Create(*memProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.WriteHeapProfile(f); err != nil {
				return fmt.Errorf("heap profile: %w", err)
			}
		}
		if *asJSON {
			return printJSON(stdout, rep)
		}
		printSoak(stdout, rep)
		return nil
	}
	res, err := runBench(ctx, o)
	if len(res) > 0 {
		if *asJSON {
			if err := printJSON(stdout, res); err != nil {
				return err
			}
		} else {
			printBench(stdout, res)
		}
	}
	return err
}

// benchReceivers is who each channel's referrals go to.
var benchReceivers = map[gateway.ChannelKind]string{
	gateway.ChannelFHIR: "ortho-ehr", gateway.ChannelDirect: "bh-direct", gateway.ChannelFax: "fax-clinic",
}

// runBench drives referrals through the loopback network, one channel
// after the other, and measures each from creation to its delivered
// receipt.
func runBench(ctx context.Context, o benchOptions) ([]benchResult, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	dir, err := os.MkdirTemp("", "gateway-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var basePerSec float64
	if o.Baseline > 0 {
		if basePerSec, err = runBaseline(ctx, o.DB, dir, o.Concurrency, o.Baseline); err != nil {
			return nil, err
		}
	}
	timers := &benchTimers{}
	ln, err := startNet(ctx, netOptions{Dir: dir, DB: o.DB, AppRole: o.AppRole, Hooks: timers.hooks(), NoRounds: true, ExtraA: max(o.Nodes-1, 0)})
	if err != nil {
		return nil, fmt.Errorf("bench: start network: %w", err)
	}
	defer ln.close()
	defer func() { _ = ln.shutdown() }()
	if err := ln.seed(ctx); err != nil {
		return nil, err
	}
	pairs, err := benchPairs(ctx, ln, max(o.Practices, 1))
	if err != nil {
		return nil, err
	}
	store := "sqlite"
	if o.DB != "" {
		store = "postgres"
	}
	var out []benchResult
	for _, ch := range o.Channels {
		if o.Warmup > 0 {
			w := o
			w.Referrals, w.firstPatient, w.Progress = o.Warmup, 50000, nil
			if _, err := benchChannel(ctx, ln, timers, ch, pairs, w); err != nil {
				return out, fmt.Errorf("warm-up: %w", err)
			}
			// A running deployment's tables have statistics (autovacuum
			// analyzes them as they grow); the bench's fresh ones have none
			// until this, and PostgreSQL plans some reads by defaults that
			// only fit an empty table.
			if ln.analyze != nil {
				if err := ln.analyze(ctx); err != nil {
					return out, fmt.Errorf("warm-up: %w", err)
				}
			}
		}
		r, err := benchChannel(ctx, ln, timers, ch, pairs, o)
		r.Store = store
		if basePerSec > 0 {
			r.BaselinePerSec, r.Ratio = basePerSec, r.PerSecond/basePerSec
		}
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// benchChannel runs one channel's referrals with o.Concurrency in flight.
func benchChannel(ctx context.Context, ln *loopNet, timers *benchTimers, ch gateway.ChannelKind, pairs []benchPair, o benchOptions) (benchResult, error) {
	res := benchResult{Channel: string(ch), Referrals: o.Referrals, Concurrency: o.Concurrency, Practices: len(pairs), Nodes: 1 + len(ln.extra)}
	svc := ln.a.app.svc
	watch := &deliveries{}
	watch.watch(append([]*node{ln.a}, ln.extra...)...)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	timers.reset()
	cpu0 := cpuSeconds()
	start := time.Now()
	var (
		next, done atomic.Int64
		mu         sync.Mutex
		ids        []string
		errs       []error
		wg         sync.WaitGroup
	)
	stopWatch := make(chan struct{})
	peakGo := make(chan float64, 1)
	go watchBench(string(ch), o, &done, start, stopWatch, peakGo)
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > o.Referrals || ctx.Err() != nil {
					return
				}
				p := pairs[i%len(pairs)]
				n := demoReferral(100000*benchSeq(ch)+o.firstPatient+i, p.Receivers[ch])
				n.Requester = p.Requester
				r, err := svc.CreateReferral(ctx, p.Referrer, n)
				if err == nil {
					err = waitDelivered(ctx, svc, watch, r.ID)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("referral %d: %w", i, err))
				} else {
					ids = append(ids, r.ID)
				}
				mu.Unlock()
				done.Add(1)
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(stopWatch)
	res.PeakGoMB = <-peakGo
	res.CPUPerRef = (cpuSeconds() - cpu0) / float64(max(len(ids), 1))
	res.PeakRSSMB = peakRSSMB()
	res.WallSeconds = wall.Seconds()
	res.Delivered = len(ids)
	res.PerSecond = float64(len(ids)) / wall.Seconds()
	res.TxPerRef = float64(timers.updates.Load()) / float64(max(len(ids), 1))
	res.ViewsPerRef = float64(timers.views.Load()) / float64(max(len(ids), 1))
	res.RoundTripsPerRef = float64(timers.rounds.Load()) / float64(max(len(ids), 1))
	lat, err := latencies(context.WithoutCancel(ctx), svc, ids)
	if err != nil {
		errs = append(errs, err)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50ms, res.P95ms, res.P99ms = pct(lat, 50), pct(lat, 95), pct(lat, 99)
		var sum float64
		for _, l := range lat {
			sum += l
		}
		res.LatencyMsRef = sum / float64(len(lat))
		c, d, n, x := float64(timers.crypto.Load()), float64(timers.db.Load()), float64(timers.net.Load()), float64(timers.other.Load())
		if busy := c + d + n + x; busy > 0 {
			res.CryptoShare, res.DBShare, res.NetShare, res.OtherShare = c/busy, d/busy, n/busy, x/busy
		}
		per := float64(len(lat)) * float64(time.Millisecond)
		res.CryptoMsRef, res.DBMsRef, res.NetMsRef, res.OtherMsRef = c/per, d/per, n/per, x/per
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("bench %s: %d of %d referrals not delivered: %w", ch, o.Referrals-len(ids), o.Referrals, errors.Join(errs[:min(len(errs), 3)]...))
	}
	return res, nil
}

// benchSeq keeps the synthetic patient ids of the channels apart.
func benchSeq(ch gateway.ChannelKind) int {
	return slices.Index([]gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelDirect, gateway.ChannelFax}, ch) + 1
}

// deliveries wakes the bench's waiters when an event about their referral
// commits on a referring node (a delivery delivered or failed), and keeps
// the referrals whose delivery was delivered, so that waiting does not
// read the database the bench measures.
type deliveries struct {
	mu        sync.Mutex
	waiting   map[string]chan struct{}
	delivered map[string]bool
}

// watch tells w of the events the nodes commit.
func (w *deliveries) watch(nodes ...*node) {
	f := w.committed
	for _, n := range nodes {
		n.app.metrics.observe.Store(&f)
	}
}

func (w *deliveries) committed(ev audit.Event) {
	if ev.Action != "delivery.delivered" && ev.Action != "delivery.failed" {
		return
	}
	w.mu.Lock()
	if ev.Action == "delivery.delivered" {
		if w.delivered == nil {
			w.delivered = map[string]bool{}
		}
		w.delivered[ev.ReferralID] = true
	}
	c := w.waiting[ev.ReferralID]
	w.mu.Unlock()
	if c != nil {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// wait returns a channel that receives when an event about referral id
// commits; done stops the watch.
func (w *deliveries) wait(id string) (wake <-chan struct{}, done func()) {
	c := make(chan struct{}, 1)
	w.mu.Lock()
	if w.waiting == nil {
		w.waiting = map[string]chan struct{}{}
	}
	w.waiting[id] = c
	w.mu.Unlock()
	return c, func() {
		w.mu.Lock()
		delete(w.waiting, id)
		w.mu.Unlock()
	}
}

// isDelivered reports whether a delivery of referral id was delivered.
// In the bench each referral has one delivery, and its delivered receipt
// moves the referral to received in the same transaction.
func (w *deliveries) isDelivered(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.delivered[id]
}

// waitDelivered waits until the referral is received, i.e. its delivery
// has its final receipt. The committed events say so without a read; the
// referral is read (uncounted) only when a delivery failed, and every
// 250 ms in case an event was missed.
func waitDelivered(ctx context.Context, svc *gateway.Service, w *deliveries, id string) error {
	q := quiet(ctx)
	wake, done := w.wait(id)
	defer done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if w.isDelivered(id) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("referral %s not received: %w", shortID(id), ctx.Err())
		case <-wake:
			if w.isDelivered(id) {
				return nil
			}
		case <-t.C:
		}
		r, _, err := svc.Referral(q, id)
		if err != nil {
			return err
		}
		switch r.Status {
		case gateway.StatusReceived:
			return nil
		case gateway.StatusFailed, gateway.StatusDraft:
			return fmt.Errorf("referral %s is %s: %s%s", shortID(id), r.Status, r.Blocked, r.FailureReason)
		}
	}
}

// latencies reads each referral's creation and first delivered event from
// the trails (commit times, so polling adds nothing) and returns
// the differences in milliseconds.
func latencies(ctx context.Context, svc *gateway.Service, ids []string) ([]float64, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	created := map[string]time.Time{}
	delivered := map[string]time.Time{}
	for e, err := range svc.AuditEntries(quiet(ctx), gateway.AuditQuery{}) {
		if err != nil {
			return nil, err
		}
		if !want[e.ReferralID] {
			continue
		}
		switch e.Action {
		case "referral.created":
			created[e.ReferralID] = e.Time
		case "delivery.delivered":
			if _, ok := delivered[e.ReferralID]; !ok {
				delivered[e.ReferralID] = e.Time
			}
		}
	}
	out := make([]float64, 0, len(ids))
	for _, id := range ids {
		c, ok1 := created[id]
		d, ok2 := delivered[id]
		if ok1 && ok2 {
			out = append(out, float64(d.Sub(c))/float64(time.Millisecond))
		}
	}
	if len(out) != len(ids) {
		return out, fmt.Errorf("bench: %d of %d referrals lack created or delivered events in the trail", len(ids)-len(out), len(ids))
	}
	return out, nil
}

// pct is the p-th percentile (nearest rank) of sorted values.
func pct(sorted []float64, p float64) float64 {
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// cpuSeconds is this process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSSMB is the process's peak resident set so far (Linux reports KiB).
func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}

// watchBench draws the progress line every 200 ms and samples the Go
// runtime's memory, sending the peak (MB) when stop closes.
func watchBench(ch string, o benchOptions, done *atomic.Int64, start time.Time, stop <-chan struct{}, peak chan<- float64) {
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	var top uint64
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	draw := func(final bool) {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > top {
			top = v
		}
		if o.Progress == nil {
			return
		}
		n := int(done.Load())
		const width = 30
		fill := min(width, n*width/max(o.Referrals, 1))
		rate := float64(n) / time.Since(start).Seconds()
		fmt.Fprintf(o.Progress, "\r%-7s [%s%s] %d/%d  %.1f referrals/s  ", ch, strings.Repeat("#", fill), strings.Repeat(".", width-fill), n, o.Referrals, rate)
		if final {
			fmt.Fprintln(o.Progress)
		}
	}
	for {
		select {
		case <-stop:
			draw(true)
			peak <- float64(top) / (1 << 20)
			return
		case <-t.C:
			draw(false)
		}
	}
}

// printBench renders the results as a table.
func printBench(w io.Writer, rs []benchResult) {
	fmt.Fprintf(w, "%-7s %-8s %5s %4s %4s %3s %8s %8s %8s %8s %9s %6s %6s %6s %14s %14s %14s %14s %8s\n", "channel", "store", "n", "C", "P", "N",
		"ref/s", "p50 ms", "p95 ms", "p99 ms", "CPU s/ref", "tx/ref", "rd/ref", "rt/ref", "crypto ms/ref", "db ms/ref", "network ms/ref", "other ms/ref", "RSS MB")
	cell := func(ms, share float64) string { return fmt.Sprintf("%6.1f (%3.0f%%)", ms, 100*share) }
	for _, r := range rs {
		fmt.Fprintf(w, "%-7s %-8s %5d %4d %4d %3d %8.1f %8.1f %8.1f %8.1f %9.4f %6.1f %6.1f %6.1f %14s %14s %14s %14s %8.1f\n", r.Channel, r.Store,
			r.Delivered, r.Concurrency, r.Practices, r.Nodes, r.PerSecond, r.P50ms, r.P95ms, r.P99ms, r.CPUPerRef, r.TxPerRef, r.ViewsPerRef, r.RoundTripsPerRef,
			cell(r.CryptoMsRef, r.CryptoShare), cell(r.DBMsRef, r.DBShare), cell(r.NetMsRef, r.NetShare), cell(r.OtherMsRef, r.OtherShare), r.PeakRSSMB)
	}
	if len(rs) > 0 && rs[0].BaselinePerSec > 0 {
		fmt.Fprintf(w, "\nbaseline: %.1f plain %d-insert transactions/s at concurrency %d on the same database\n", rs[0].BaselinePerSec, baselineRows, rs[0].Concurrency)
		for _, r := range rs {
			fmt.Fprintf(w, "  %-7s %.3f of the baseline\n", r.Channel, r.Ratio)
		}
	}
	fmt.Fprintln(w, "\nP: referrer/receiver practice pairs; N: nodes serving the referrer. tx/ref, rd/ref: the core's read-write and read-only transactions")
	fmt.Fprintln(w, "(Store.Update, Store.View) per delivered referral on both nodes, River's own queries not counted; rt/ref: the round trips")
	fmt.Fprintln(w, "to PostgreSQL inside those transactions (BEGIN and COMMIT included).")
	fmt.Fprintln(w, "ref/s: delivered referrals over the channel's wall time; latency: referral.created to the first delivery.delivered")
	fmt.Fprintln(w, "in the referrer's trail (commit times). CPU: getrusage user+system of the whole process (both nodes, EHR, emulator).")
	fmt.Fprintln(w, "ms/ref: summed wall time per delivered referral inside Store.Update/View (db, lock waits included), SMTP sends")
	fmt.Fprintln(w, "and HTTP round trips incl. the far side's handling (network), Direct seal and open outside db and network")
	fmt.Fprintln(w, "(crypto), FHIR mapping / fax rendering (other); both nodes, overlapping calls each count. (%) is the share of")
	fmt.Fprintln(w, "that instrumented time. RSS: peak resident set of the process so far.")
}
