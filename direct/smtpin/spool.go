package smtpin

import (
	"context"
	"io"
	"time"
)

// Envelope is the SMTP transaction that carried a message.
type Envelope struct {
	RemoteIP string    // peer IP address
	HELO     string    // name the client greeted with
	MailFrom string    // reverse path; empty for the null sender <>
	RcptTo   []string  // accepted recipients, in order
	Received time.Time // when the end of DATA arrived
	TLS      bool      // whether the transaction ran under STARTTLS
}

// Spool durably stores accepted messages. Store must return nil only once
// the message survives a crash; the server acknowledges the message with
// 250 after that and with 451 on any error. msg is the raw message exactly
// as received (msg.Size() bytes, readable from any offset while Store
// runs); a Store should stream it rather than read it whole, since the
// server runs up to Config.MaxConcurrentStores of them at once.
type Spool interface {
	Store(ctx context.Context, env Envelope, msg *io.SectionReader) (id string, err error)
}

// Mailboxes decides whether an address in one of our domains exists. An
// error is a lookup that failed, not an answer: the recipient gets 451
// 4.3.0 (try again later), which does not count as a refused recipient.
type Mailboxes interface {
	Accepts(ctx context.Context, addr string) (bool, error)
}
