package gateway

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/internal/retryafter"
)

// ErrNotFound reports that a referral, delivery, directory entry or other
// record does not exist (or is not visible to the caller).
var ErrNotFound = errors.New("not found")

// ErrConflict reports an optimistic-concurrency failure: the record changed
// since the caller read it.
var ErrConflict = errors.New("version conflict")

// ErrForbidden reports that the actor may not perform the operation.
var ErrForbidden = errors.New("forbidden")

// ValidationError names the field of an input that is invalid.
type ValidationError struct {
	Field  string // JSON-path-like name of the offending field, e.g. "patient.id"
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// ValidationErrors collects every invalid field of one input.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap lets errors.As find the individual field errors.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// orNil returns nil for an empty list so callers can `return errs.orNil()`.
func (es ValidationErrors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// TransitionError refuses a lifecycle or delivery transition that the state
// machine does not allow. The record is left unchanged.
type TransitionError struct {
	Machine string // "referral", "delivery" or "baa"
	From    string
	To      string
	Rule    string // the rule that refused it, in words
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("illegal %s transition %s → %s: %s", e.Machine, e.From, e.To, e.Rule)
}

// ConsentError names the gap in a referral's consent basis, e.g.
// "authorization expired 2026-10-01" or "Part 2 consent not on file".
type ConsentError struct {
	Basis ConsentKind
	Gap   string
}

func (e *ConsentError) Error() string {
	return fmt.Sprintf("consent basis %s not satisfied: %s", e.Basis, e.Gap)
}

// BAAError refuses a disclosure because the Business Associate Agreement
// with a party or vendor is not active or expiring.
type BAAError struct {
	PartyID string
	State   BAAState // "" when no BAA is on file
	Role    string   // "receiver", "fax vendor", "HISP"
}

func (e *BAAError) Error() string {
	if e.State == "" {
		return fmt.Sprintf("no Business Associate Agreement on file for %s %s", e.Role, e.PartyID)
	}
	return fmt.Sprintf("Business Associate Agreement for %s %s is %s", e.Role, e.PartyID, e.State)
}

// MinimumNecessaryError blocks a send because the free text or attachments
// carry identifiers the purpose does not need. It is lifted by an override
// with a reason.
type MinimumNecessaryError struct {
	Findings []Finding
}

func (e *MinimumNecessaryError) Error() string {
	parts := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		parts[i] = f.String()
	}
	return "minimum necessary: " + strings.Join(parts, "; ") + " (remove them or override with a reason)"
}

// RoutingError reports that no channel can reach the receiving party; Reasons
// names why each channel was unusable.
type RoutingError struct {
	ReceiverID string
	Reasons    []string
}

func (e *RoutingError) Error() string {
	return fmt.Sprintf("no usable channel to %s: %s", e.ReceiverID, strings.Join(e.Reasons, "; "))
}

// UnverifiedRecipientError refuses a send to a first-time recipient whose
// contact details have not been verified by an admin.
type UnverifiedRecipientError struct {
	ReceiverID string
}

func (e *UnverifiedRecipientError) Error() string {
	return fmt.Sprintf("recipient %s is not verified: an admin must verify a first-time recipient before PHI is sent", e.ReceiverID)
}

// PermanentError marks a channel failure that retrying will not fix (an SMTP
// 5xx, an HTTP 4xx, a refused certificate). Any other error from
// Channel.Send is treated as temporary and retried with backoff (see
// RetryAfterError for a far side that says when).
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or anything it wraps) is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError is a temporary channel failure whose far side said how
// long to wait (an HTTP 429 or 503 with Retry-After): the queue schedules
// the next attempt no sooner than Delay after this one, or later when its
// own backoff says so. It is still a failed attempt, counted against the
// queue's attempt limit, so a server that always asks to wait cannot keep
// a delivery retrying for ever. A PermanentError around it stays
// permanent.
type RetryAfterError struct {
	Err   error
	Delay time.Duration // at most retryafter.Max (1 h)
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (asked to retry after %v)", e.Err, e.Delay)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err as a RetryAfterError asking for at least d before
// the next attempt; d is capped at retryafter.Max. A nil err stays nil, and
// a d of zero or less returns err unchanged (the queue's own backoff
// applies).
func RetryAfter(err error, d time.Duration) error {
	if err == nil || d <= 0 {
		return err
	}
	return &RetryAfterError{Err: err, Delay: min(d, retryafter.Max)}
}

// RetryDelay returns the wait a RetryAfterError in err's chain asks for, or
// zero.
func RetryDelay(err error) time.Duration {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.Delay
	}
	return 0
}

// DuplicateError reports that a record carrying the same business
// identifier already exists (a second create of the same referral). It
// matches ErrConflict for callers that treat both alike, but names the
// real cause rather than a version conflict.
type DuplicateError struct {
	// What is the kind of identifier, e.g. "referral identifier".
	What string
	// Value is the identifier; Scope is who issued it (the referrer).
	Value, Scope string
	// ExistingID is the id of the record that already carries it.
	ExistingID string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate %s: %q of %s is already used by %s", e.What, e.Value, e.Scope, e.ExistingID)
}

// Is makes a DuplicateError match ErrConflict.
func (e *DuplicateError) Is(target error) bool { return target == ErrConflict }
