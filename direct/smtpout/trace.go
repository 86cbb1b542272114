package smtpout

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer names the sender's spans; a no-op unless the program configures
// a tracer provider.
var tracer = otel.Tracer("github.com/referralgw/gateway/direct/smtpout")

// startSend starts the span of one Send (sizes only, never addresses or
// content); end records its error.
func startSend(ctx context.Context, rcpts, size int) (context.Context, func(error)) {
	ctx, span := tracer.Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Int("smtp.recipients", rcpts), attribute.Int("smtp.message_size", size)))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "send failed")
		}
		span.End()
	}
}
