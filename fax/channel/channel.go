package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/referralgw/gateway/fax/packet"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

// DefaultCallbackWithin is how long the core waits for the vendor's
// callback before it polls once and then fails the delivery.
const DefaultCallbackWithin = 30 * time.Minute

// Config wires a Channel. Vendor and CallbackURL are required.
type Config struct {
	// Vendor submits faxes and reads their status, e.g. Phaxio{Client: c}.
	Vendor Vendor
	// CallbackURL is our public fax callback URL (fax/callback), exactly as
	// the vendor will sign it.
	CallbackURL string
	// CallbackWithin is how long a callback may take (DefaultCallbackWithin
	// when zero).
	CallbackWithin time.Duration
	// Now dates the cover sheet (time.Now when nil).
	Now func() time.Time
	// Logger receives delivery ids, fax ids and page counts only
	// (discarded when nil).
	Logger *slog.Logger
}

// Channel is the cloud fax channel. It is safe for concurrent use.
type Channel struct {
	cfg Config
}

var (
	_ gateway.Channel       = (*Channel)(nil)
	_ gateway.ReceiptPoller = (*Channel)(nil)
)

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Channel, error) {
	var errs []error
	if cfg.Vendor == nil {
		errs = append(errs, errors.New("vendor is required"))
	}
	if cfg.CallbackURL == "" {
		errs = append(errs, errors.New("callback URL is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fax channel: config: %w", err)
	}
	if cfg.CallbackWithin <= 0 {
		cfg.CallbackWithin = DefaultCallbackWithin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Channel{cfg: cfg}, nil
}

// Kind reports gateway.ChannelFax.
func (c *Channel) Kind() gateway.ChannelKind { return gateway.ChannelFax }

// Reachable accepts a party with a verified, valid US fax number.
func (c *Channel) Reachable(_ context.Context, to *gateway.Entry) error {
	_, err := number(to)
	return err
}

// number returns the party's fax number in E.164 form, or why it cannot
// be faxed.
func number(to *gateway.Entry) (string, error) {
	if to == nil || to.Fax == nil || to.Fax.Number == "" {
		return "", errors.New("no fax number")
	}
	n, err := phaxio.NormalizeUS(to.Fax.Number)
	if err != nil {
		return "", fmt.Errorf("fax number unusable: %w", err)
	}
	if !to.Verified() {
		return "", errors.New("fax number not verified")
	}
	return n, nil
}

// Send renders the referral packet and submits it to the vendor, tagged
// with the delivery id. A resend (the delivery's second attempt or later)
// first asks the vendor for a fax with that tag and, when one was accepted
// and has not failed, returns it instead of faxing again.
func (c *Channel) Send(ctx context.Context, out *gateway.Outbound) (gateway.SendResult, error) {
	if out == nil || out.Referral == nil || out.Delivery == nil || out.Receiver == nil {
		return gateway.SendResult{}, gateway.Permanent(errors.New("fax send: incomplete outbound"))
	}
	to, err := number(out.Receiver)
	if err != nil {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("fax send %s: %w", out.Delivery.ID, err))
	}
	if out.Delivery.Attempts > 1 {
		// A resend: a crash may have come between the vendor accepting
		// the fax and our recording it. Phaxio has no idempotency key, so
		// ask by the delivery's tag before faxing again.
		id, res, err := c.cfg.Vendor.Find(ctx, TagDelivery, out.Delivery.ID)
		switch {
		case err == nil && res.State != StateFailure:
			c.cfg.Logger.InfoContext(ctx, "fax already accepted, not resent", "delivery", out.Delivery.ID, "fax", id, "status", res.Status)
			return gateway.SendResult{RemoteID: id, AwaitReceipt: c.cfg.CallbackWithin, Detail: "already accepted by the vendor: " + res.Status}, nil
		case err != nil && !errors.Is(err, gateway.ErrNotFound):
			return gateway.SendResult{}, fmt.Errorf("fax send %s: look up an earlier submission: %w", out.Delivery.ID, err)
		}
	}
	pdf, pages, err := Render(out, to, c.cfg.Now())
	if err != nil {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("fax send %s: %w", out.Delivery.ID, err))
	}
	id, err := c.cfg.Vendor.Send(ctx, SendRequest{
		To:             to,
		FileName:       "referral-" + out.Referral.ID + ".pdf",
		PDF:            pdf,
		CallbackURL:    c.cfg.CallbackURL,
		IdempotencyKey: out.Delivery.ID,
		Tags:           map[string]string{TagDelivery: out.Delivery.ID, TagReferral: out.Referral.ID},
	})
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "fax submit failed", "delivery", out.Delivery.ID, "permanent", gateway.IsPermanent(err))
		return gateway.SendResult{}, fmt.Errorf("fax send %s: %w", out.Delivery.ID, err)
	}
	c.cfg.Logger.InfoContext(ctx, "fax queued", "delivery", out.Delivery.ID, "fax", id, "pages", pages)
	return gateway.SendResult{RemoteID: id, AwaitReceipt: c.cfg.CallbackWithin, Detail: fmt.Sprintf("queued, %d pages", pages)}, nil
}

// Tags the channel puts on every fax; the vendor echoes them in callbacks.
const (
	TagDelivery = "delivery"
	TagReferral = "referral"
)

// PollReceipt asks the vendor for the outcome of a sent fax. A fax still
// queued or in transmission is reported as gateway.ErrNotFound: there is no
// receipt yet.
func (c *Channel) PollReceipt(ctx context.Context, d *gateway.Delivery) (*gateway.Receipt, error) {
	if d == nil || d.RemoteID == "" {
		return nil, fmt.Errorf("fax poll: delivery has no fax id: %w", gateway.ErrNotFound)
	}
	res, err := c.cfg.Vendor.Status(ctx, d.RemoteID)
	if err != nil {
		return nil, fmt.Errorf("fax poll %s: %w", d.ID, err)
	}
	rc := res.Receipt()
	if rc == nil {
		return nil, fmt.Errorf("fax poll %s: fax %s is %s: %w", d.ID, d.RemoteID, res.Status, gateway.ErrNotFound)
	}
	return rc, nil
}

// Render draws the referral packet for out, addressed to the fax number to,
// and returns the PDF with its page count.
func Render(out *gateway.Outbound, to string, now time.Time) ([]byte, int, error) {
	pdf, err := packet.Render(Packet(out, to, now))
	if err != nil {
		return nil, 0, fmt.Errorf("render packet: %w", err)
	}
	pages, err := packet.PageCount(pdf)
	if err != nil {
		return nil, 0, fmt.Errorf("count packet pages: %w", err)
	}
	return pdf, pages, nil
}
