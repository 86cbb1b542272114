package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/referralgw/gateway/gateway/buildinfo"
)

// tracingEnabled reports whether an OTLP endpoint is configured: the
// configuration's tracing.otlp_endpoint or OpenTelemetry's own
// OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT. Tracing is off otherwise.
func tracingEnabled(endpoint string) bool {
	return endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// setupTracing installs an OTLP/HTTP trace exporter as the process's
// tracer provider, with W3C trace context propagation, when tracing is
// configured; otherwise it does nothing and every span is a no-op. Spans
// carry ids and counts only, never PHI. The returned function flushes and
// stops the exporter.
func setupTracing(ctx context.Context, endpoint string) (func(context.Context) error, error) {
	if !tracingEnabled(endpoint) {
		return func(context.Context) error { return nil }, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	info := buildinfo.Read()
	res := sdkresource.NewWithAttributes("", attribute.String("service.name", "referral-gateway"),
		attribute.String("service.version", info.Version), attribute.String("vcs.revision", info.Commit))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return func(ctx context.Context) error {
		err := tp.Shutdown(ctx)
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		return err
	}, nil
}

// traceHTTP wraps the HTTP face in server spans (continuing a caller's
// trace context) named after the matched route ("GET /readyz"), never the
// raw path, which may hold ids.
func traceHTTP(next http.Handler) http.Handler {
	return otelhttp.NewHandler(next, "http", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		if r.Pattern != "" { // set by the mux once it has routed the request
			return r.Pattern
		}
		return r.Method
	}))
}
