package smtpout

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/referralgw/gateway/internal/publicaddr"
)

// ErrNotPublic is returned (wrapped) when a mail host found by MX lookup
// resolves to a loopback, private, link-local or other non-public address:
// whoever answers DNS for a recipient's domain could otherwise point our
// mail, and the sealed referral in it, at a service inside our network.
// It is not temporary: the same answer would be refused again.
var ErrNotPublic = errors.New("mail host address is not public")

// checkPublic is the dialer's Control hook for mail hosts found by MX
// lookup. It runs on the address actually dialled, after any resolution,
// so a name that resolves (or re-resolves) to an internal address is
// refused too.
func checkPublic(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("smtpout: check %s: %w", address, err)
	}
	if !publicaddr.Public(ap.Addr()) {
		return fmt.Errorf("smtpout: %s: %w", ap.Addr(), ErrNotPublic)
	}
	return nil
}
