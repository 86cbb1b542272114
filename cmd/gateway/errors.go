package main

import (
	"errors"
	"fmt"

	"github.com/referralgw/gateway/gateway"
)

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errSilent ends a command with status 1 after it printed its own report.
var errSilent = errors.New("reported")

// refused reports whether err is a domain refusal (a gate or rule said no).
func refused(err error) bool {
	var (
		te *gateway.TransitionError
		ce *gateway.ConsentError
		be *gateway.BAAError
		me *gateway.MinimumNecessaryError
		re *gateway.RoutingError
		ue *gateway.UnverifiedRecipientError
	)
	return errors.As(err, &te) || errors.As(err, &ce) || errors.As(err, &be) || errors.As(err, &me) ||
		errors.As(err, &re) || errors.As(err, &ue) || errors.Is(err, gateway.ErrConflict) || errors.Is(err, gateway.ErrForbidden)
}

// describe turns an error into the one line a user reads.
func describe(err error) string {
	var ve gateway.ValidationErrors
	if errors.As(err, &ve) {
		return "invalid input: " + ve.Error()
	}
	return err.Error()
}
