package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/referralgw/gateway/gateway"
)

// otlpSpan is what the test reads of an exported span.
type otlpSpan struct{ name, trace, span, parent string }

// otlpReceiver is an OTLP/HTTP trace endpoint that decodes what it is sent.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	var req collectortrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				o.spans = append(o.spans, otlpSpan{name: s.Name, trace: hex.EncodeToString(s.TraceId),
					span: hex.EncodeToString(s.SpanId), parent: hex.EncodeToString(s.ParentSpanId)})
			}
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(out)
}

func (o *otlpReceiver) named(name string) []otlpSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []otlpSpan
	for _, s := range o.spans {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// TestTracingAcrossBoundaries exports to a real OTLP/HTTP endpoint and
// follows one referral: the trace of the code that creates it continues in
// the delivery job (across the queue) and in the SMTP send; the receiving
// gateway's SMTP listener records its own span; an HTTP request carrying a
// traceparent header continues that trace in a server span named after
// the route.
func TestTracingAcrossBoundaries(t *testing.T) {
	rec := &otlpReceiver{}
	collector := httptest.NewServer(rec)
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.URL+"/v1/traces")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	stop, err := setupTracing(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := startNet(ctx, netOptions{Dir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.close()
	if err := ln.seed(ctx); err != nil {
		t.Fatal(err)
	}
	svc := ln.a.app.svc
	sctx, root := otel.Tracer("test").Start(ctx, "create referral")
	r, err := svc.CreateReferral(sctx, demoReferrer, demoReferral(200, "bh-direct"))
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, func() (bool, error) {
		got, _, err := svc.Referral(ctx, r.ID)
		return err == nil && got.Status != gateway.StatusRequested, err
	}); err != nil {
		t.Fatalf("not delivered: %v", err)
	}
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, "http://"+ln.httpA.Addr().String()+"/readyz", nil)
	otel.GetTextMapPropagator().Inject(sctx, propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	root.End()
	if err := ln.shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := stop(ctx); err != nil { // flushes
		t.Fatal(err)
	}

	traceID := root.SpanContext().TraceID().String()
	rootID := root.SpanContext().SpanID().String()
	var job *otlpSpan
	for _, s := range rec.named("job deliver") {
		if s.trace == traceID && s.parent == rootID {
			job = &s
		}
	}
	if job == nil {
		t.Fatalf("no delivery job span continuing the creating trace; jobs: %+v", rec.named("job deliver"))
	}
	sent := false
	for _, s := range rec.named("smtp send") {
		sent = sent || (s.trace == traceID && s.parent == job.span)
	}
	if !sent {
		t.Errorf("no smtp send span under the job; sends: %+v", rec.named("smtp send"))
	}
	if len(rec.named("smtp receive")) == 0 {
		t.Errorf("the receiving gateway recorded no smtp receive span")
	}
	var httpSpan bool
	for _, s := range rec.named("GET /readyz") {
		httpSpan = httpSpan || s.trace == traceID
	}
	if !httpSpan {
		var names bytes.Buffer
		for _, s := range rec.spans {
			names.WriteString(s.name + "; ")
		}
		t.Errorf("no HTTP server span for GET /readyz in the caller's trace; spans: %s", names.String())
	}
}

// TestTracingOffByDefault: without an endpoint nothing is installed.
func TestTracingOffByDefault(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	before := otel.GetTracerProvider()
	stop, err := setupTracing(t.Context(), "")
	if err != nil || tracingEnabled("") || otel.GetTracerProvider() != before {
		t.Fatalf("tracing turned on without an endpoint: %v", err)
	}
	if err := stop(t.Context()); err != nil {
		t.Fatal(err)
	}
}
