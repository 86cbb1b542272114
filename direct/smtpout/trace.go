package smtpout

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer returns the tracer of the sender's spans, a no-op unless the program
// configures a tracer provider. It is looked up for each span rather than
// kept in a variable from start-up: such a tracer stays bound to the first
// provider ever installed, and a later one (each tracing test installs its
// own) would never see these spans.
func tracer() trace.Tracer { return otel.Tracer("github.com/referralgw/gateway/direct/smtpout") }

// startSend starts the span of one Send (sizes only, never addresses or
// content); end records its error.
func startSend(ctx context.Context, rcpts, size int) (context.Context, func(error)) {
	ctx, span := tracer().Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Int("smtp.recipients", rcpts), attribute.Int("smtp.message_size", size)))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "send failed")
		}
		span.End()
	}
}
