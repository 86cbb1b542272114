package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracer returns the tracer of this package's spans, a no-op unless the program
// configures a tracer provider. It is looked up for each span rather than
// kept in a variable from start-up: such a tracer stays bound to the first
// provider ever installed, and a later one (each tracing test installs its
// own) would never see these spans.
func tracer() trace.Tracer { return otel.Tracer("github.com/referralgw/gateway/gateway/sqlstore") }

// traceMetadata carries the trace of the transaction that queues a job
// into the job's River metadata, so the job's run continues that trace
// across the queue: the request that created a referral and the delivery
// that sends it are one trace. Nil when ctx carries no trace.
func traceMetadata(ctx context.Context) []byte {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if len(carrier) == 0 {
		return nil
	}
	b, err := json.Marshal(map[string]any{"trace": carrier})
	if err != nil {
		return nil
	}
	return b
}

// startJobSpan starts the span of one job run, as a child of the trace
// that queued it when its metadata carries one.
func startJobSpan(ctx context.Context, kind string, row *rivertype.JobRow) (context.Context, trace.Span) {
	var md struct {
		Trace propagation.MapCarrier `json:"trace"`
	}
	if len(row.Metadata) > 0 && json.Unmarshal(row.Metadata, &md) == nil && len(md.Trace) > 0 {
		ctx = otel.GetTextMapPropagator().Extract(ctx, md.Trace)
	}
	return tracer().Start(ctx, "job "+kind, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("job.kind", kind), attribute.Int("job.attempt", row.Attempt),
			attribute.Int64("job.id", row.ID)))
}
