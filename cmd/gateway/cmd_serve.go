package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/referralgw/gateway/fhir/api"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/buildinfo"
	"github.com/referralgw/gateway/gateway/httpedge"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

func cmdServe(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", &cfg, stderr, storeFlags, baaFlags, vendorFlags)
	cfg.Edges.register(fs)
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP listen address (env GATEWAY_HTTP_ADDR)")
	grace := fs.Duration("shutdown-grace", 20*time.Second, "how long shutdown waits for in-flight sends before cancelling (they are re-queued)")
	fs.DurationVar(&cfg.AuditPublishEvery, "audit-publish-every", cfg.AuditPublishEvery, "how often the audit sequencer sequences, signs and witnesses checkpoints while there are new entries")
	queue := sqlstore.DefaultQueueConfig()
	fs.DurationVar(&queue.RescueAfter, "rescue-after", queue.RescueAfter,
		"re-queue a job this long after its last heartbeat (its process died); work in flight at a crash resumes within this plus a few seconds of a restart")
	fs.DurationVar(&cfg.ReceiptPollEvery, "receipt-poll", gateway.DefaultConfig().ReceiptPollEvery,
		"how often a sent fax whose callback has not come asks the vendor for its outcome (a callback lost while the gateway was down)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.ReceiptPollEvery < time.Second {
		return usagef("--receipt-poll must be at least 1s")
	}
	if queue.RescueAfter < time.Second {
		return usagef("--rescue-after must be at least 1s")
	}
	if cfg.DB == "" { // one serve per embedded store
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	stopTracing, err := setupTracing(ctx, cfg.TracingEndpoint)
	if err != nil {
		return err
	}
	defer stopTracing(context.WithoutCancel(ctx))
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	n, err := openNode(ctx, cfg, nodeOptions{Queue: queue}, nodeListeners{HTTP: ln}, stdout, stderr)
	if err != nil {
		ln.Close()
		return err
	}
	defer n.Close()
	return serve(ctx, n, ln, *grace)
}

// serve runs the node (HTTP server, the queue's workers and periodic
// jobs, SMTP listener) until ctx ends, then shuts down: stop
// accepting, let in-flight sends finish within grace, cancel (and so
// re-queue) the rest.
func serve(ctx context.Context, n *node, ln net.Listener, grace time.Duration) error {
	a := n.app
	if err := a.store.StartWorkers(ctx, a.svc); err != nil {
		if ctx.Err() != nil {
			// Told to stop before the workers were up: nothing runs yet,
			// so there is nothing to drain, and stopping is not a failure.
			a.log.Info("gateway stopped while starting")
			return nil
		}
		return fmt.Errorf("start workers: %w", err)
	}
	loops, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	n.start(loops)
	limits := n.edges.HTTP
	limits.Log = a.log // failed TLS handshakes and the like, a few lines a second
	limits.Refuse = edgeRefusal
	edge := httpedge.New(limits)
	srv := edge.Server(a.routes())
	l, scheme := edge.Listener(ln), "http"
	if n.tlsCert != nil {
		l, scheme = tls.NewListener(l, n.tlsCert.TLSConfig()), "https"
		go n.tlsCert.Watch(loops, 30*time.Second)
	} else if !loopbackAddr(ln.Addr()) {
		a.log.Warn("SERVING PHI OVER PLAIN HTTP on a non-loopback address: referrals, session cookies and tokens cross the network in clear; "+
			"set --tls-cert and --tls-key, or bind to loopback behind a TLS-terminating proxy", "http", ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	lim := edge.Limits()
	a.log.Info("gateway serving", "http", ln.Addr().String(), "tls", n.tlsCert != nil, "store", storeKind(a.cfg), "direct", n.direct != nil, "fax", n.fax != nil,
		"max_conns", lim.MaxConns, "max_conns_per_addr", lim.MaxConnsPerAddr, "max_requests_per_addr", lim.MaxInFlightPerAddr, "body_timeout", lim.BodyTimeout)
	fmt.Fprintf(a.stdout, "gateway listening on %s://%s\n", scheme, ln.Addr())
	n.describe(a.stdout)

	// Refusal counts held in this process's memory go to the trail every
	// EdgeInterval: a timer, not a job, since no other node holds them
	// (docs/operations.md). Everything durable runs on the queue.
	edges := time.NewTicker(gateway.EdgeInterval)
	defer edges.Stop()
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			serveErr = err
			break loop
		case <-edges.C:
			if err := a.svc.FlushEdges(ctx); err != nil {
				a.log.Error("audit edge events", "err", err)
			}
		}
	}
	a.log.Info("gateway shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	n.drain(sctx) // inbound SMTP, beside the HTTP server
	_ = srv.Shutdown(sctx)
	stopLoops()
	if err := a.store.StopWorkers(sctx); err != nil {
		a.log.Warn("workers cancelled at shutdown; their jobs are retried", "err", err)
	}
	n.stop(sctx)
	if err := a.svc.FlushEdges(context.Background()); err != nil {
		a.log.Error("audit edge events", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// edgeRefusal writes the body of a request the HTTP edge refuses (429 over
// a per-address cap, 503 over the server's): on the FHIR API an
// OperationOutcome, as every FHIR error is, elsewhere plain text.
func edgeRefusal(w http.ResponseWriter, r *http.Request, status int, reason string) {
	if r.URL.Path != "/fhir" && !strings.HasPrefix(r.URL.Path, "/fhir/") {
		http.Error(w, reason, status)
		return
	}
	code := "throttled" // FHIR R4 issue-type for a rate or concurrency limit
	if status == http.StatusServiceUnavailable {
		code = "transient"
	}
	body, _ := json.Marshal(api.OperationOutcome{ResourceType: "OperationOutcome",
		Issue: []api.Issue{{Severity: "error", Code: code, Diagnostics: reason}}})
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func storeKind(c Config) string {
	if c.DB != "" {
		return "postgres"
	}
	return "sqlite"
}

// routes mounts health, readiness, metrics and the protocol handlers.
func (a *app) routes() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_http_requests_total",
		Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	reg.MustRegister(requests)
	a.metrics.register(reg, a)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n"+buildinfo.Read().String()+"\n")
	})
	mux.Handle("GET /readyz", newReadiness(a.store.Ping, a.svc.Clock().Now))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	for pattern, h := range a.protocolHandlers() {
		mux.Handle(pattern, h)
	}
	if tracingEnabled(a.cfg.TracingEndpoint) {
		return traceHTTP(countRequests(mux, requests))
	}
	return countRequests(mux, requests)
}

// countRequests records each request's matched route and status.
func countRequests(next *http.ServeMux, c *prometheus.CounterVec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		next.ServeHTTP(rec, r)
		_, pattern := next.Handler(r)
		if pattern == "" {
			pattern = "unmatched"
		}
		c.WithLabelValues(pattern, strconv.Itoa(rec.code)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// protocolHandlers returns the FHIR, fax-callback and console handlers
// that are wired in this build, keyed by mux pattern.
func (a *app) protocolHandlers() map[string]http.Handler {
	return a.protocols
}

// loopbackAddr reports whether a listener is bound to a loopback address
// only (not a wildcard).
func loopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
