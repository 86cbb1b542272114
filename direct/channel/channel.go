package channel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
)

// Channel is the Direct gateway.Channel. It is safe for concurrent use.
type Channel struct {
	cfg        Config
	discovered discoveryCache
}

var _ gateway.Channel = (*Channel)(nil)

// New checks cfg, applies its defaults and returns the channel.
func New(cfg Config) (*Channel, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Channel{cfg: c, discovered: discoveryCache{ttl: c.DiscoveryTTL, failTTL: c.DiscoveryFailTTL}}, nil
}

// Config returns the configuration in force, defaults applied.
func (c *Channel) Config() Config { return c.cfg }

// Kind implements gateway.Channel.
func (c *Channel) Kind() gateway.ChannelKind { return gateway.ChannelDirect }

// Reachable implements gateway.Channel: the party needs a Direct address and
// a certificate we may encrypt for now. It never waits on DNS: a
// certificate that must be discovered and is not cached is
// gateway.ErrNotResolved, and the core calls Resolve outside its
// transaction.
func (c *Channel) Reachable(ctx context.Context, to *gateway.Entry) error {
	if _, err := c.recipientCert(ctx, to, false); err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	return nil
}

// SenderAddress is the address a referral from the organisation sender
// leaves from: its own Direct address when the directory has one, else the
// configured gateway address.
func (c *Channel) SenderAddress(sender *gateway.Entry) string {
	if sender != nil && sender.Direct != nil && strings.TrimSpace(sender.Direct.Address) != "" {
		return strings.TrimSpace(sender.Direct.Address)
	}
	return c.cfg.DefaultSender
}

// MessageID is the Message-ID (without brackets) of a delivery: derived from
// the delivery id alone, so a resend after a crash carries the same id and
// the receiver can recognise the duplicate.
func (c *Channel) MessageID(deliveryID string) string {
	return deliveryID + "@" + c.cfg.Domain
}

// Send implements gateway.Channel: compose, sign, encrypt and hand over by
// SMTP. SMTP 5xx replies, TLS and certificate refusals and unsendable
// content are permanent; 4xx replies and network failures are retried by
// the core.
func (c *Channel) Send(ctx context.Context, out *gateway.Outbound) (gateway.SendResult, error) {
	if out == nil || out.Referral == nil || out.Delivery == nil || out.Receiver == nil {
		return gateway.SendResult{}, gateway.Permanent(errors.New("direct: send: incomplete outbound"))
	}
	msgID := c.MessageID(out.Delivery.ID)
	cert, err := c.RecipientCert(ctx, out.Receiver)
	if err != nil {
		err = fmt.Errorf("direct: send %s: %w", out.Delivery.ID, err)
		if errors.Is(err, errDiscovery) {
			return gateway.SendResult{}, err
		}
		return gateway.SendResult{}, gateway.Permanent(err)
	}
	to := out.Receiver.Direct.Address
	if err := c.CheckRevoked(ctx, cert, to, c.knownWith(out.Receiver)...); err != nil {
		err = fmt.Errorf("direct: send %s: %w", out.Delivery.ID, err)
		if errors.Is(err, ErrRecipientRevoked) {
			return gateway.SendResult{}, gateway.Permanent(err)
		}
		return gateway.SendResult{}, err // no revocation verdict yet: retried
	}
	from := c.SenderAddress(out.Sender)
	entity, err := message.Compose(message.Outbound{
		From:                      from,
		To:                        []string{to},
		Subject:                   subjectFor(out),
		InReplyTo:                 out.Delivery.AnswersRemoteID,
		MessageID:                 msgID,
		Date:                      c.cfg.Now().UTC().Truncate(time.Second),
		SummaryText:               Summary(out),
		Attachments:               Attachments(out.Records),
		Part2Notice:               out.Referral.Sensitive.Part2,
		DispositionNotificationTo: from,
		FinalDelivery:             c.cfg.FinalDelivery(),
	})
	if err != nil {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("direct: send %s: compose: %w", out.Delivery.ID, err))
	}
	wire, err := c.Seal(from, cert, entity)
	if err != nil {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("direct: send %s: %w", out.Delivery.ID, err))
	}
	res, err := c.cfg.Transport.Send(ctx, from, []string{to}, wire)
	if err != nil {
		err = fmt.Errorf("direct: send %s: %w", out.Delivery.ID, err)
		c.cfg.Logger.WarnContext(ctx, "direct send failed", "delivery", out.Delivery.ID, "referral", out.Referral.ID,
			"temporary", smtpout.IsTemporary(err), "err", err)
		if smtpout.IsTemporary(err) {
			return gateway.SendResult{}, err
		}
		return gateway.SendResult{}, gateway.Permanent(err)
	}
	c.cfg.Logger.InfoContext(ctx, "direct message sent", "delivery", out.Delivery.ID, "referral", out.Referral.ID,
		"messageId", msgID, "code", res.Code)
	await := c.cfg.ProcessedWithin
	if n := out.Receiver.Direct.ProcessedWithinMinutes; n > 0 {
		await = time.Duration(n) * time.Minute // the party's own deadline
	}
	return gateway.SendResult{RemoteID: msgID, AwaitReceipt: await, Detail: replyDetail(res)}, nil
}

// replyDetail is the reply metadata kept in the trail, e.g.
// "250 2.0.0 OK queued as 123 (mx.example, TLS)".
func replyDetail(res smtpout.Result) string {
	d := fmt.Sprint(res.Code)
	if res.EnhancedCode != "" {
		d += " " + res.EnhancedCode
	}
	if m := strings.TrimSpace(res.Message); m != "" {
		if len(m) > 120 {
			m = m[:120]
		}
		d += " " + m
	}
	tls := "no TLS"
	if res.TLS {
		tls = "TLS"
	}
	return fmt.Sprintf("%s (%s, %s)", d, res.Host, tls)
}
