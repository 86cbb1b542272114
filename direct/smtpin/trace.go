package smtpin

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer names the listener's spans; a no-op unless the program configures
// a tracer provider.
var tracer = otel.Tracer("github.com/referralgw/gateway/direct/smtpin")

// startReceive starts the span of one received message (counts only,
// never addresses or content); end records its error.
func startReceive(ctx context.Context, rcpts int) (context.Context, func(error)) {
	ctx, span := tracer.Start(ctx, "smtp receive", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.Int("smtp.recipients", rcpts)))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "message refused")
		}
		span.End()
	}
}
