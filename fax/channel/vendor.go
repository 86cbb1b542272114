package channel

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/referralgw/gateway/gateway"
)

// Vendor submits faxes to a cloud fax service and reads their outcome.
// An error wrapped with gateway.Permanent (a refused request: bad number,
// bad file, bad credentials) fails the delivery at once; any other error
// is retried with backoff by the core.
type Vendor interface {
	// Send submits one fax and returns the vendor's id for it. A second
	// Send with the same IdempotencyKey must return the first fax's id
	// without faxing again.
	Send(ctx context.Context, req SendRequest) (string, error)
	// Status reads the current outcome of a fax by the vendor's id.
	Status(ctx context.Context, id string) (Result, error)
	// Find returns the id and outcome of the newest fax submitted with the
	// tag name=value, or gateway.ErrNotFound when there is none. Before a
	// resend the channel asks by the delivery's tag, so that a fax the
	// vendor accepted before a crash is not transmitted twice.
	Find(ctx context.Context, name, value string) (string, Result, error)
}

// SendRequest is one packet to one fax number.
type SendRequest struct {
	To             string // E.164
	FileName       string // name of the PDF part, e.g. "referral-<id>.pdf"
	PDF            []byte // the rendered packet
	CallbackURL    string // where the vendor posts the outcome
	IdempotencyKey string // the delivery id
	// Tags are echoed by the vendor in callbacks and status replies.
	Tags map[string]string
}

// State is where a fax stands at the vendor.
type State string

// The states a vendor's status maps onto.
const (
	StatePending State = "pending" // queued or being transmitted
	StateSuccess State = "success" // every page reached the far machine
	StateFailure State = "failure" // transmission failed (or only partly succeeded)
)

// Result is a fax's outcome as the vendor reports it, in terms every vendor
// shares.
type Result struct {
	State State
	// Status is the vendor's own status word, e.g. "partialsuccess".
	Status       string
	Pages        int
	ErrorType    string // the vendor's error class, e.g. "lineError"
	ErrorCode    int
	ErrorMessage string // the vendor's short error text; never PHI
	// Retry marks a failure worth another fax to the same number later
	// (busy line, no answer), as the vendor adapter classified it.
	Retry bool
}

// Receipt is the delivery receipt r amounts to, or nil while the fax is
// still pending. A failure's Detail names the vendor status and error
// class and code (metadata only); it is retryable when the vendor adapter
// classified it so (busy line, no answer).
func (r Result) Receipt() *gateway.Receipt {
	switch r.State {
	case StateSuccess:
		return &gateway.Receipt{Kind: gateway.ReceiptFaxSuccess, Final: true, Detail: fmt.Sprintf("%d pages", r.Pages)}
	case StateFailure:
		return &gateway.Receipt{Kind: gateway.ReceiptFailed, Final: true, Retryable: r.Retry, Detail: r.detail()}
	}
	return nil
}

// detail is the failure in words for the trail and the referrer.
func (r Result) detail() string {
	var b strings.Builder
	b.WriteString("fax ")
	b.WriteString(cmp.Or(r.Status, string(r.State)))
	if r.ErrorType != "" || r.ErrorCode != 0 {
		fmt.Fprintf(&b, " %s/%d", cmp.Or(r.ErrorType, "error"), r.ErrorCode)
	}
	if r.ErrorMessage != "" {
		b.WriteString(": ")
		b.WriteString(clip(r.ErrorMessage, 120))
	}
	return b.String()
}

// clip makes vendor text safe for the trail: control characters become
// spaces and it is cut to n bytes on a rune boundary.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
