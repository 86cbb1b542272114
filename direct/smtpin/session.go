package smtpin

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-smtp"
)

// Replies this server gives; each names the RFC 3463 code it carries.
var (
	errRelayDenied = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	errUnknownUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such Direct address here"}
	errBadAddress  = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	errNeedTLS     = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	errStoreFailed = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
	errLongLine    = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long (RFC 5321 allows 1000 octets)"}
	errNoStorage   = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
	errLookup      = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Recipient lookup failed, try again later"}
	// errTooManyRefused is the reply when the session cannot be closed
	// at once (served without the limit listener); hangup says it otherwise.
	errTooManyRefused = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many refused recipients, closing connection"}
	// errHungUp answers a command the engine had read before hangup closed
	// the session; the reply goes nowhere, the command is not carried out.
	errHungUp = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Closing connection"}
)

// session is one SMTP session; go-smtp creates a new one after STARTTLS.
type session struct {
	s        *Server
	conn     *sessionConn // nil only when served without the limit listener
	remoteIP string
	helo     string
	tls      bool
	from     string
	hasFrom  bool
	rcpts    []string
	refused  int // recipients refused in this session
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	ip := c.Conn().RemoteAddr().String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	sc := sessionConnOf(c.Conn())
	if sc != nil {
		sc.speaking(c.Conn())
	}
	return &session{s: s, conn: sc, remoteIP: ip, helo: c.Hostname(), tls: isTLS}, nil
}

func (ss *session) Reset() {
	ss.from, ss.hasFrom, ss.rcpts = "", false, nil
}

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.hungUp() {
		return errHungUp
	}
	if ss.s.cfg.RequireTLS && !ss.tls {
		return errNeedTLS
	}
	// A declared size that the receive budget cannot take now is deferred
	// before any of it is sent (RFC 1870 6.2).
	if opts != nil && opts.Size > 0 && !ss.s.receiveFits(opts.Size) {
		ss.s.refusals.Warn("smtpin: message deferred", "remote_ip", ss.remoteIP, "reason", "receive budget spent", "size", opts.Size)
		return errNoStorage
	}
	ss.from, ss.hasFrom = from, true
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.hungUp() {
		return errHungUp
	}
	// Past the bound, any recipient ends the session, so the reply to the
	// one that trips it tells nothing of whether it exists.
	if ss.refused >= maxRefusedRecipients || (ss.conn != nil && !ss.conn.mayRefuse()) {
		ss.s.refusals.Warn("smtpin: session ended", "remote_ip", ss.remoteIP, "reason", "too many refused recipients")
		if ss.conn != nil {
			ss.conn.hangup("too many refused recipients")
		}
		return errTooManyRefused
	}
	if err := ss.check(to); err == errLookup {
		return err // our failure, not the client's: no refusal spent
	} else if err != nil {
		ss.refused++
		if ss.conn != nil {
			ss.conn.spendRefusal()
		}
		return err
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

// check decides whether to is a recipient we accept.
func (ss *session) check(to string) error {
	local, domain, ok := strings.Cut(to, "@")
	if !ok || local == "" || domain == "" {
		return errBadAddress
	}
	if !ss.s.acceptsDomain(domain) {
		return errRelayDenied
	}
	if mb := ss.s.cfg.Mailboxes; mb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ss.s.cfg.StoreTimeout)
		defer cancel()
		ok, err := mb.Accepts(ctx, to)
		if err != nil {
			// The error may name the address: not logged (see the package doc).
			ss.s.connErrors.Warn("smtpin: recipient lookup failed", "remote_ip", ss.remoteIP)
			return errLookup
		}
		if !ok {
			return errUnknownUser
		}
	}
	return nil
}

// hungUp reports whether the session was ended with 421 while the
// engine still had commands of it to carry out.
func (ss *session) hungUp() bool { return ss.conn != nil && ss.conn.hasHungUp() }

func (ss *session) Data(r io.Reader) (err error) {
	if ss.hungUp() {
		return errHungUp
	}
	if ss.conn != nil {
		ss.conn.receiving(true)
		defer ss.conn.receiving(false)
	}
	_, end := startReceive(context.Background(), len(ss.rcpts))
	defer func() { end(err) }()
	// The body takes its share of the receive budget as it arrives, not
	// the size MAIL declared: a declared size costs nothing to send, and
	// would let a client that never sends it hold the budget.
	body, err := ss.s.receive(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			if se == errNoStorage {
				ss.s.refusals.Warn("smtpin: message deferred", "remote_ip", ss.remoteIP, "reason", "receive budget spent")
			}
			return se // 552 5.3.4 from go-smtp's size limit, or 452 4.3.1 from the receive budget
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			// The same message would fail the same way: refuse it for good.
			return errLongLine
		}
		// A client can cause this at will (by leaving in the middle of a
		// message), so it shares the bound of connection errors.
		ss.s.connErrors.Warn("smtpin: message not received", "remote_ip", ss.remoteIP, "err", err)
		return errStoreFailed
	}
	defer body.Close()
	env := Envelope{
		RemoteIP: ss.remoteIP,
		HELO:     ss.helo,
		MailFrom: ss.from,
		RcptTo:   append([]string(nil), ss.rcpts...),
		Received: ss.s.cfg.Now(),
		TLS:      ss.tls,
	}
	ctx, cancel := context.WithTimeout(context.Background(), ss.s.cfg.StoreTimeout)
	defer cancel()
	id, err := ss.s.store(ctx, env, body.Reader())
	if err != nil {
		ss.s.cfg.Logger.Error("smtpin: spool store failed", "remote_ip", ss.remoteIP, "size", body.size, "err", err)
		return errStoreFailed
	}
	ss.s.cfg.Logger.Info("smtpin: message accepted", "spool_id", id, "remote_ip", ss.remoteIP,
		"size", body.size, "recipients", len(env.RcptTo), "tls", ss.tls)
	// go-smtp sends a returned SMTPError's code verbatim; this is how the
	// 250 reply carries the spool id.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK queued as " + id}
}
