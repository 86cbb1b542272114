package smtpout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// ReplyError is an SMTP reply that refused our command.
type ReplyError struct {
	Command      string // the refused command: "greeting", "EHLO", "STARTTLS", "MAIL", "RCPT", "DATA"
	Code         int    // basic reply code, e.g. 550
	EnhancedCode string // RFC 3463 code such as "5.1.1"; empty when the server sent none
	Message      string // server text without the codes
	Host         string // the server that replied
}

// Error implements error.
func (e *ReplyError) Error() string {
	s := fmt.Sprintf("smtpout: %s refused by %s: %d", e.Command, e.Host, e.Code)
	if e.EnhancedCode != "" {
		s += " " + e.EnhancedCode
	}
	return s + " " + e.Message
}

// Temporary reports whether the reply is a 4xx (transient) refusal.
func (e *ReplyError) Temporary() bool { return e.Code/100 == 4 }

// ErrTLSRequired is returned (wrapped) when a server does not offer
// STARTTLS and the sender requires TLS. It is not temporary.
var ErrTLSRequired = errors.New("STARTTLS required but not offered by server")

// ErrReplyTooLong is returned (wrapped) when a server's reply runs past
// maxReplyBytes: no server says that much, and reading on would let one
// fill our memory. It is not temporary.
var ErrReplyTooLong = errors.New("SMTP reply too long")

// IsTemporary reports whether err is worth retrying later: a 4xx reply, a
// network or timeout error, a dropped connection or a transient DNS failure.
// 5xx replies, missing STARTTLS, a mail host on a non-public address,
// certificate problems and bad input are permanent.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Temporary()
	}
	if errors.Is(err, ErrTLSRequired) || errors.Is(err, ErrNotPublic) {
		return false // ErrNotPublic arrives inside a *net.OpError
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return !dnsErr.IsNotFound
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// Backoff returns how long to wait before retry number attempt (1-based):
// one minute, doubling per attempt, capped at four hours. It is
// deterministic; add jitter in the queue if many messages share a schedule.
func Backoff(attempt int) time.Duration {
	const (
		base = time.Minute
		max  = 4 * time.Hour
	)
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 10 {
		return max
	}
	d := base << (attempt - 1)
	if d > max {
		return max
	}
	return d
}

// replyError converts a go-smtp error into a *ReplyError when it carries a
// reply; other errors are returned unchanged.
func replyError(command, host string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		re := &ReplyError{Command: command, Code: se.Code, Message: se.Message, Host: host}
		if se.EnhancedCode != smtp.EnhancedCodeNotSet && se.EnhancedCode != smtp.NoEnhancedCode {
			re.EnhancedCode = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		return re
	}
	return err
}

// splitEnhanced separates a leading RFC 3463 code from reply text.
func splitEnhanced(text string) (code, rest string) {
	first, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return "", text
	}
	for _, p := range parts[1:] {
		if _, err := strconv.Atoi(p); err != nil || len(p) > 3 {
			return "", text
		}
	}
	return first, rest
}
