// Command gateway is the referral gateway: it carries patient referrals
// between practices on FHIR, Direct and cloud fax, gates them on consent
// and Business Associate Agreements, and proves every step in a
// hash-chained audit trail.
//
// Run `gateway help` for the subcommands. With no --db the gateway keeps
// everything in an embedded SQLite file under ./gateway-data/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err and maps it to the process exit status: 0 success,
// 2 usage, 3 refused by a gate or rule, 1 anything else.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return exitUsage
	}
	if errors.Is(err, errSilent) {
		return exitFailure
	}
	fmt.Fprintf(stderr, "gateway: %s\n", describe(err))
	if refused(err) {
		return exitRefused
	}
	return exitFailure
}
