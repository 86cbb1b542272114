package smtpin

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/referralgw/gateway/internal/allowance"
	"github.com/referralgw/gateway/internal/peer"
	"golang.org/x/time/rate"
)

// maxRefusedRecipients is how many recipients a client may have refused
// (an unknown user, a foreign domain, a malformed address) in one session,
// and from one address across its sessions, before its next RCPT, to any
// recipient, is answered 421 4.7.0 and the session closed. A sending MTA
// with a stale address book needs a few; a script trying addresses to learn
// which exist needs thousands.
const maxRefusedRecipients = 10

// refusedRecipientRefill is how often an address earns back one refused
// recipient of its allowance, so a harvester learns at most one more
// address this often, while a busy honest MTA is never held up for long.
const refusedRecipientRefill = 6 * time.Minute

// maxRefusalAddrs bounds the addresses whose allowance is remembered
// (see allowance.Limit: whole allowances are forgotten first, then all).
const maxRefusalAddrs = 1 << 16

// maxUnansweredBytes is the most a client may send outside a message
// without the server answering: what follows a message refused for its
// size (DATA), or a chunk refused whole (BDAT), is read and dropped up to
// this, and within the idle timeout, so an honest client that ran past the
// limit still gets its 552 and can go on or QUIT; past either bound the
// session is answered 421 4.7.0 and closed instead of being read to the
// end of the session.
const maxUnansweredBytes = 16 << 20

// lingerBytes and lingerTime bound what is read and dropped after a 421
// that ends a session, between half-closing and closing the connection:
// closing a socket with unread data in it resets the connection, and the
// client could lose the 421 to the reset.
const (
	lingerBytes = 1 << 20
	lingerTime  = time.Second
)

// limitListener admits at most max concurrent sessions in all and perAddr
// from one client address (an IPv6 client's /64); the ones above a limit are told 421 and closed
// at once, so clients retry later instead of hanging in the accept backlog,
// and one client cannot take every slot. It also keeps each address's
// allowance of refused recipients across its sessions.
type limitListener struct {
	net.Listener
	hostname string
	max      int
	perAddr  int
	idle     time.Duration
	session  time.Duration
	refused  func(addr, reason string)
	now      func() time.Time

	mu       sync.Mutex
	total    int
	byAddr   map[string]int
	open     map[*sessionConn]struct{}
	draining bool             // Shutdown has begun: sessions end at their next command
	refusals *allowance.Limit // refused recipients allowed per address
}

func (s *Server) newLimitListener(l net.Listener) *limitListener {
	return &limitListener{
		Listener: l, hostname: s.cfg.Hostname,
		max: s.cfg.MaxConnections, perAddr: s.cfg.MaxConnectionsPerAddr,
		idle: s.cfg.IdleTimeout, session: s.cfg.MaxSessionDuration,
		refused: s.refused, now: s.cfg.Now, byAddr: make(map[string]int), open: make(map[*sessionConn]struct{}),
		refusals: allowance.New(rate.Every(refusedRecipientRefill), maxRefusedRecipients, maxRefusalAddrs),
	}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(c.RemoteAddr())
		addr := peer.Key(host)
		sc := &sessionConn{Conn: c, hostname: l.hostname, idle: l.idle, end: time.Now().Add(l.session)}
		if reason := l.admit(addr, sc); reason != "" {
			l.refused(host, reason)
			go refuse(c, l.hostname, reason)
			continue
		}
		sc.release = func() { l.leave(addr, sc) }
		sc.mayRefuse = func() bool { return l.mayRefuse(addr) }
		sc.spendRefusal = func() { l.spendRefusal(addr) }
		return sc, nil
	}
}

// admit takes a slot for addr's session sc, or says which limit refuses it.
func (l *limitListener) admit(addr string, sc *sessionConn) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.max:
		return "too many connections"
	case l.byAddr[addr] >= l.perAddr:
		return "too many connections from your address"
	}
	l.total++
	l.byAddr[addr]++
	l.open[sc] = struct{}{}
	sc.draining = l.draining
	return ""
}

func (l *limitListener) leave(addr string, sc *sessionConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
	delete(l.open, sc)
}

// mayRefuse reports whether addr has a refused recipient left in its
// allowance.
func (l *limitListener) mayRefuse(addr string) bool { return l.refusals.Wait(addr, l.now()) == 0 }

// spendRefusal takes one refused recipient from addr's allowance.
func (l *limitListener) spendRefusal(addr string) { l.refusals.Spend(addr, l.now()) }

// drain makes every session, and any accepted from now on, end at its
// next command: a session waiting for one is woken at once, one inside a
// message first finishes it.
func (l *limitListener) drain() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.draining = true
	for sc := range l.open {
		sc.drain()
	}
}

// refuse tells an excess client to come back later.
func refuse(c net.Conn, hostname, reason string) {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("421 4.7.0 " + hostname + " " + reason + ", try again later\r\n"))
	_ = c.Close()
}

// sessionConn bounds one session in time and gives its slot back when
// closed. Every read waits at most the idle timeout for the client's next
// bytes, and never past the end of the session, whatever deadline the
// SMTP engine asks for; so a client can neither stall a command or the
// message body nor hold a slot forever by trickling NOOPs. Outside a
// message, the bytes a client sends without an answer are bounded too
// (maxUnansweredBytes, within the idle timeout).
//
// Once drained, a read outside a message fails as a timeout would, so the
// SMTP engine answers 421 and ends the session.
type sessionConn struct {
	net.Conn
	hostname     string
	idle         time.Duration
	end          time.Time
	once         sync.Once
	release      func()
	mayRefuse    func() bool // the client's address has a refused recipient left
	spendRefusal func()      // takes one from the address's allowance

	mu              sync.Mutex
	inData          bool // a message is being received
	draining        bool
	top             net.Conn  // the connection the SMTP engine speaks on: this one or TLS over it
	unanswered      int64     // bytes read outside a message since the server last wrote
	unansweredSince time.Time // when the first of them arrived
	hungUp          bool      // the session was ended with 421
}

func (c *sessionConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.hungUp {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if c.draining && !c.inData {
		c.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	now := time.Now()
	d := now.Add(c.idle)
	if d.After(c.end) {
		d = c.end
	}
	var unansweredEnd time.Time
	if !c.inData && c.unanswered > 0 {
		unansweredEnd = c.unansweredSince.Add(c.idle)
		reason := ""
		switch {
		case c.unanswered >= maxUnansweredBytes:
			reason = "too much data without a command"
		case !now.Before(unansweredEnd):
			reason = "data without a command for too long"
		}
		if reason != "" {
			c.mu.Unlock()
			c.hangup(reason)
			return 0, net.ErrClosed
		}
		if unansweredEnd.Before(d) {
			d = unansweredEnd
		}
	}
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if !c.inData && n > 0 {
		if c.unanswered == 0 {
			c.unansweredSince = now
		}
		c.unanswered += int64(n)
	}
	c.mu.Unlock()
	if ne, ok := err.(net.Error); ok && ne.Timeout() && !unansweredEnd.IsZero() && !time.Now().Before(unansweredEnd) {
		// What was sent so far is dropped unanswered: say why, once, as
		// the session ends, rather than answer the dropped message.
		c.hangup("data without a command for too long")
		return n, net.ErrClosed
	}
	return n, err
}

// Write sends a reply; the client's bytes before it count as answered.
func (c *sessionConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.unanswered = 0
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// speaking records the connection the SMTP engine now speaks on, which is
// the one a 421 must be written to.
func (c *sessionConn) speaking(top net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.top = top
}

// hangup ends the session with "421 4.7.0 <host> <reason>": it writes
// the reply on the engine's connection, half-closes, drops a bounded
// amount of what the client still sends (so that a reset does not swallow
// the reply), and closes. Reads from then on fail.
func (c *sessionConn) hangup(reason string) {
	c.mu.Lock()
	if c.hungUp {
		c.mu.Unlock()
		return
	}
	c.hungUp = true
	top := c.top
	c.mu.Unlock()
	if top == nil {
		top = c
	}
	_ = top.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(top, "421 4.7.0 "+c.hostname+" "+reason+", closing connection\r\n")
	if tc, ok := top.(*tls.Conn); ok {
		_ = tc.CloseWrite() // close_notify
	}
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
	}
	_ = c.Close()
}

// hasHungUp reports whether hangup ended the session.
func (c *sessionConn) hasHungUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hungUp
}

// drain ends the session at its next read outside a message, waking a
// read that is waiting for a command now.
func (c *sessionConn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.inData {
		_ = c.Conn.SetReadDeadline(time.Now())
	}
}

// receiving marks the span of one message (DATA, or BDAT's chunks), which
// a drain lets finish.
func (c *sessionConn) receiving(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inData = on
	c.unanswered = 0
}

// SetReadDeadline is ignored: Read sets its own deadline each time.
func (c *sessionConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline never lets a write outlive the session.
func (c *sessionConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() || t.After(c.end) {
		t = c.end
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline applies to writes only, for the same reason.
func (c *sessionConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

func (c *sessionConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// sessionConnOf finds the sessionConn under an SMTP connection, beneath
// its TLS layer after STARTTLS; nil when there is none.
func sessionConnOf(c net.Conn) *sessionConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, _ := c.(*sessionConn)
	return sc
}

// hostOf returns the IP of a peer address, or the address itself when it
// has no port (as with net.Pipe).
func hostOf(a net.Addr) string {
	s := a.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}
