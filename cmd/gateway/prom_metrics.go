package main

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
)

// promMetrics is the Prometheus face of gateway.Metrics: the core tells it of
// committed work, and at scrape time it reads the queue, the checkpoints,
// the BAAs and the certificates. Its names are documented in
// docs/operations.md and drawn in docs/grafana-dashboard.json.
type promMetrics struct {
	deliveries     *prometheus.CounterVec
	receiptTime    *prometheus.HistogramVec
	deadlineMissed *prometheus.CounterVec
	refusals       *prometheus.CounterVec
	inbound        *prometheus.CounterVec
	jobWait        *prometheus.HistogramVec
	jobRun         *prometheus.HistogramVec
	// observe, when set, is also told of every committed event: the
	// benchmark waits for deliveries with it instead of polling.
	observe atomic.Pointer[func(audit.Event)]
}

func newMetrics() *promMetrics {
	m := &promMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_deliveries_total",
			Help: "Delivery outcomes by channel: sent, delivered, failed, retry."}, []string{"channel", "outcome"}),
		receiptTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_receipt_seconds",
			Help:    "Time from a delivery's send to its receipt, by channel.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}}, []string{"channel"}),
		deadlineMissed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_receipt_deadlines_missed_total",
			Help: "Deliveries whose receipt did not come by the deadline, by channel."}, []string{"channel"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_refusals_total",
			Help: "Referrals or sends refused by a gate: consent, baa, minimum-necessary, routing, verification."}, []string{"gate"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_inbound_messages_total",
			Help: "Inbound Direct messages and fax callbacks by verdict."}, []string{"channel", "verdict"}),
		jobWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_job_wait_seconds",
			Help:    "How long a queued job waited past its scheduled time before a worker took it, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 9)}, []string{"kind"}),
		jobRun: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_job_run_seconds",
			Help:    "How long a job ran, by kind and outcome (ok, retry, snooze).",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9)}, []string{"kind", "outcome"}),
	}
	// Known series start at zero, so rates and alerts see them before the
	// first event.
	for _, ch := range []gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelDirect, gateway.ChannelFax} {
		for _, o := range []string{"sent", "delivered", "failed", "retry"} {
			m.deliveries.WithLabelValues(string(ch), o)
		}
		m.deadlineMissed.WithLabelValues(string(ch))
		m.receiptTime.WithLabelValues(string(ch))
	}
	for _, g := range []string{"consent", "baa", "minimum-necessary", "routing", "verification"} {
		m.refusals.WithLabelValues(g)
	}
	for _, v := range inboundVerdicts {
		m.inbound.WithLabelValues(v[0], v[1])
	}
	return m
}

// inboundVerdicts maps the audit actions of inbound traffic to a channel
// and a verdict.
var inboundVerdicts = map[string][2]string{
	"direct.inbound-stored":   {"direct", "stored"},
	"direct.inbound-refused":  {"direct", "refused"},
	"direct.receipt":          {"direct", "receipt"},
	"direct.receipt-refused":  {"direct", "refused"},
	"direct.report-unmatched": {"direct", "unmatched"},
	"fax.callback":            {"fax", "receipt"},
	"fax.callback.progress":   {"fax", "progress"},
	"fax.callback.replay":     {"fax", "replay"},
	"fax.callback.refused":    {"fax", "refused"},
}

// Committed implements gateway.Metrics.
func (m *promMetrics) Committed(ev audit.Event) {
	if f := m.observe.Load(); f != nil {
		(*f)(ev)
	}
	ch := ev.Detail["channel"]
	switch ev.Action {
	case "delivery.sent", "delivery.delivered", "delivery.failed", "delivery.retry":
		if ch != "" {
			m.deliveries.WithLabelValues(ch, strings.TrimPrefix(ev.Action, "delivery.")).Inc()
		}
	case "delivery.timeout":
		m.deadlineMissed.WithLabelValues(ch).Inc()
	}
	if g := ev.Detail["gate"]; g != "" && ev.Outcome == audit.OutcomeRefused {
		m.refusals.WithLabelValues(g).Inc()
	}
	if v, ok := inboundVerdicts[ev.Action]; ok {
		verdict := v[1]
		if v[0] == "fax" && ev.Action == "fax.callback" && ev.Outcome != audit.OutcomeSuccess {
			verdict = "failed"
		}
		m.inbound.WithLabelValues(v[0], verdict).Add(eventCount(ev))
	}
}

// eventCount is how many events an audit entry stands for: an aggregated
// edge entry (gateway.RecordEdge) carries its count, any other is one.
func eventCount(ev audit.Event) float64 {
	if n, err := strconv.Atoi(ev.Detail["count"]); err == nil && n > 0 {
		return float64(n)
	}
	return 1
}

// ReceiptTime implements gateway.Metrics.
func (m *promMetrics) ReceiptTime(ch gateway.ChannelKind, after time.Duration) {
	m.receiptTime.WithLabelValues(string(ch)).Observe(after.Seconds())
}

// JobDone implements gateway.Metrics.
func (m *promMetrics) JobDone(kind gateway.JobKind, waited, ran time.Duration, outcome string) {
	m.jobWait.WithLabelValues(string(kind)).Observe(waited.Seconds())
	m.jobRun.WithLabelValues(string(kind), outcome).Observe(ran.Seconds())
}

// register adds the event metrics and the scrape-time gauges over a to reg.
func (m *promMetrics) register(reg prometheus.Registerer, a *app) {
	reg.MustRegister(m.deliveries, m.receiptTime, m.deadlineMissed, m.refusals, m.inbound, m.jobWait, m.jobRun)
	reg.MustRegister(&stateCollector{a: a, every: 15 * time.Second})
}

var (
	queueDesc = prometheus.NewDesc("gateway_queue_jobs", "Jobs waiting or running, by kind and state.",
		[]string{"kind", "state"}, nil)
	checkpointAgeDesc = prometheus.NewDesc("gateway_audit_checkpoint_age_seconds",
		"Seconds since the newest signed audit checkpoint (absent before the first).", nil, nil)
	unsequencedDesc = prometheus.NewDesc("gateway_audit_unsequenced_entries",
		"Audit events committed but not yet given their place in a chain by the sequencer.", nil, nil)
	unsequencedAgeDesc = prometheus.NewDesc("gateway_audit_unsequenced_oldest_age_seconds",
		"Age of the oldest audit event awaiting sequencing (0 when none waits).", nil, nil)
	baaDesc = prometheus.NewDesc("gateway_baas_expiring", "BAAs in force that end within the warning window (state expiring) or have ended (expired).",
		[]string{"state"}, nil)
	certDesc = prometheus.NewDesc("gateway_certificates_expiring", "Directory Direct certificates that expire within the warning window (or have expired).",
		[]string{"expired"}, nil)
	scrapeErrDesc = prometheus.NewDesc("gateway_state_scrape_errors_total", "Failed reads of the queue, checkpoints, BAAs or directory at scrape time.",
		nil, nil)
)

// stateCollector reads the gauges from the store at scrape time, at most
// once per every (the directory walk is not free).
type stateCollector struct {
	a     *app
	every time.Duration

	mu     sync.Mutex
	at     time.Time
	last   []prometheus.Metric
	errors float64
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueDesc, checkpointAgeDesc, unsequencedDesc, unsequencedAgeDesc, baaDesc, certDesc, scrapeErrDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.last == nil || now.Sub(c.at) >= c.every {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ms, err := c.read(ctx, now)
		cancel()
		if err != nil {
			c.errors++
			c.a.log.Warn("metrics: read state", "err", err)
		}
		c.last, c.at = ms, now
	}
	for _, m := range c.last {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.CounterValue, c.errors)
}

// read takes the gauges' values; on an error it returns what it read.
func (c *stateCollector) read(ctx context.Context, now time.Time) ([]prometheus.Metric, error) {
	var out []prometheus.Metric
	counts, err := c.a.store.QueueDepth(ctx)
	if err != nil {
		return out, err
	}
	for _, q := range counts {
		out = append(out, prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(q.Jobs), q.Kind, q.State))
	}
	at, err := c.a.store.LatestCheckpoint(ctx)
	if err != nil {
		return out, err
	}
	if !at.IsZero() {
		out = append(out, prometheus.MustNewConstMetric(checkpointAgeDesc, prometheus.GaugeValue, now.Sub(at).Seconds()))
	}
	waiting, oldest, err := c.a.store.AuditUnsequenced(ctx)
	if err != nil {
		return out, err
	}
	age := 0.0
	if waiting > 0 && now.After(oldest) {
		age = now.Sub(oldest).Seconds()
	}
	out = append(out, prometheus.MustNewConstMetric(unsequencedDesc, prometheus.GaugeValue, float64(waiting)),
		prometheus.MustNewConstMetric(unsequencedAgeDesc, prometheus.GaugeValue, age))
	baas, err := c.a.svc.BAAs(ctx)
	if err != nil {
		return out, err
	}
	byState := map[gateway.BAAState]int{gateway.BAAExpiring: 0, gateway.BAAExpired: 0}
	for _, b := range baas {
		if st := b.Effective(now, c.a.cfg.BAAWarningWindow); st == gateway.BAAExpiring || st == gateway.BAAExpired {
			byState[st]++
		}
	}
	for st, n := range byState {
		out = append(out, prometheus.MustNewConstMetric(baaDesc, prometheus.GaugeValue, float64(n), string(st)))
	}
	expiring, expired, err := c.certsExpiring(ctx, now)
	if err != nil {
		return out, err
	}
	out = append(out, prometheus.MustNewConstMetric(certDesc, prometheus.GaugeValue, float64(expiring), "false"),
		prometheus.MustNewConstMetric(certDesc, prometheus.GaugeValue, float64(expired), "true"))
	return out, nil
}

// certsExpiring counts the directory's Direct certificates that expire
// within the console's warning window, and those already expired.
func (c *stateCollector) certsExpiring(ctx context.Context, now time.Time) (expiring, expired int, err error) {
	q := gateway.EntryQuery{Limit: 1000}
	for {
		page, err := c.a.svc.ListEntries(ctx, q)
		if err != nil {
			return 0, 0, err
		}
		for _, e := range page {
			if e.Direct == nil || e.Direct.CertExpires.IsZero() {
				continue
			}
			switch {
			case !e.Direct.CertExpires.After(now):
				expired++
			case e.Direct.CertExpires.Before(now.Add(admin.DefaultCertWarningWindow)):
				expiring++
			}
		}
		if len(page) < q.Limit {
			return expiring, expired, nil
		}
		q.AfterID = page[len(page)-1].ID
	}
}

// The exporter is the core's Metrics.
var _ gateway.Metrics = (*promMetrics)(nil)
