package channel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

// Phaxio adapts the Phaxio v2.1 client to Vendor.
type Phaxio struct {
	Client *phaxio.Client
}

var _ Vendor = Phaxio{}

// Send submits the packet as one PDF file part with the idempotency tag.
// A refused request (HTTP 4xx) is permanent; network failures, timeouts
// and 5xx or 429 replies are not, and a 429 or 503 with Retry-After is
// retried no sooner than it asks.
func (p Phaxio) Send(ctx context.Context, req SendRequest) (string, error) {
	id, err := p.Client.Send(ctx, phaxio.SendRequest{
		To:             req.To,
		Files:          []phaxio.File{{Name: req.FileName, ContentType: "application/pdf", Data: req.PDF}},
		CallbackURL:    req.CallbackURL,
		Tags:           req.Tags,
		IdempotencyKey: req.IdempotencyKey,
	})
	if err != nil {
		return "", classify(err)
	}
	return id.String(), nil
}

// Status reads a fax's outcome by its decimal Phaxio id.
func (p Phaxio) Status(ctx context.Context, id string) (Result, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return Result{}, gateway.Permanent(fmt.Errorf("phaxio status: fax id %q is not a Phaxio id", clip(id, 40)))
	}
	f, err := p.Client.Status(ctx, phaxio.FaxID(n))
	if err != nil {
		return Result{}, classify(err)
	}
	return PhaxioResult(f.Status, f.NumPages, f.ErrorType, f.ErrorCode, f.ErrorMessage), nil
}

// Find lists the faxes tagged name=value and returns the newest.
func (p Phaxio) Find(ctx context.Context, name, value string) (string, Result, error) {
	fs, err := p.Client.List(ctx, phaxio.ListQuery{Tags: map[string]string{name: value}, Direction: "sent", PerPage: 5})
	if err != nil {
		return "", Result{}, classify(err)
	}
	if len(fs) == 0 {
		return "", Result{}, fmt.Errorf("phaxio: no fax tagged %s: %w", name, gateway.ErrNotFound)
	}
	f := fs[0]
	return f.ID.String(), PhaxioResult(f.Status, f.NumPages, f.ErrorType, f.ErrorCode, f.ErrorMessage), nil
}

// classify marks the errors retrying will not fix as permanent, and hands
// the core the wait a throttled reply asked for (Retry-After), so the next
// attempt comes no sooner.
func classify(err error) error {
	var api *phaxio.APIError
	if !errors.As(err, &api) {
		return err
	}
	if !phaxio.IsTemporary(err) {
		return gateway.Permanent(err)
	}
	return gateway.RetryAfter(err, api.RetryAfter)
}

// PhaxioResult maps a Phaxio fax status and its error fields onto Result.
// Phaxio reports busy lines and unanswered calls as a "lineError" whose
// message says so; those are retryable.
func PhaxioResult(status phaxio.Status, pages int, errorType string, errorCode int, errorMessage string) Result {
	r := Result{Status: string(status), Pages: pages, ErrorType: errorType, ErrorCode: errorCode, ErrorMessage: errorMessage}
	switch status {
	case phaxio.StatusSuccess:
		r.State = StateSuccess
	case phaxio.StatusFailure, phaxio.StatusPartialSuccess:
		r.State = StateFailure
		r.Retry = status == phaxio.StatusFailure && busyOrNoAnswer(errorType, errorMessage)
	default:
		r.State = StatePending
	}
	return r
}

// busyOrNoAnswer reads a line error's message for the two conditions a
// later call may not meet again.
func busyOrNoAnswer(errorType, msg string) bool {
	if !strings.EqualFold(errorType, "lineError") {
		return false
	}
	msg = strings.ToLower(msg)
	for _, w := range []string{"busy", "no answer", "not answer", "no-answer"} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}
