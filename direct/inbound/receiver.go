package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/referralgw/gateway/direct/smtpin"
	"github.com/referralgw/gateway/gateway"
)

// Receiver is the smtpin.Spool that hands accepted mail to the core: the
// raw message (still encrypted) and its processing job commit in one
// transaction before the listener answers 250. A copy of a message already
// received is answered the same way but stored and applied once.
type Receiver struct {
	svc *gateway.Service
}

var _ smtpin.Spool = (*Receiver)(nil)

// NewReceiver returns the spool that stores into svc.
func NewReceiver(svc *gateway.Service) *Receiver { return &Receiver{svc: svc} }

// Store implements smtpin.Spool. The id is the stored message's (the
// original's, for a duplicate).
func (r *Receiver) Store(ctx context.Context, env smtpin.Envelope, msg *io.SectionReader) (string, error) {
	// The whole message is sealed as one unit (AES-GCM), so it is read
	// whole; the listener bounds its size and the number of stores at once.
	// One allocation of the exact size (io.ReadAll would grow and copy).
	raw := make([]byte, msg.Size())
	if _, err := msg.ReadAt(raw, 0); err != nil && !(errors.Is(err, io.EOF) && len(raw) == 0) {
		return "", fmt.Errorf("direct inbound: read message: %w", err)
	}
	m, _, err := r.svc.ReceiveInbound(ctx, gateway.NewInbound{Channel: gateway.ChannelDirect, Received: env.Received,
		RemoteIP: env.RemoteIP, MailFrom: strings.ToLower(env.MailFrom), RcptTo: env.RcptTo, TLS: env.TLS,
		MessageID: headerMsgID(raw), Raw: raw})
	if err != nil {
		return "", err
	}
	return m.ID, nil
}
