package smtpin

import (
	"net"
	"sync"
	"time"
)

// limitListener admits at most max concurrent sessions in all and perAddr
// from one client address; the ones above a limit are told 421 and closed
// at once, so clients retry later instead of hanging in the accept backlog,
// and one client cannot take every slot.
type limitListener struct {
	net.Listener
	hostname string
	max      int
	perAddr  int
	idle     time.Duration
	session  time.Duration
	refused  func(addr, reason string)

	mu     sync.Mutex
	total  int
	byAddr map[string]int
}

func (s *Server) newLimitListener(l net.Listener) *limitListener {
	return &limitListener{
		Listener: l, hostname: s.cfg.Hostname,
		max: s.cfg.MaxConnections, perAddr: s.cfg.MaxConnectionsPerAddr,
		idle: s.cfg.IdleTimeout, session: s.cfg.MaxSessionDuration,
		refused: s.refused, byAddr: make(map[string]int),
	}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		if reason := l.admit(addr); reason != "" {
			l.refused(addr, reason)
			go refuse(c, l.hostname, reason)
			continue
		}
		return &sessionConn{
			Conn: c, idle: l.idle, end: time.Now().Add(l.session),
			release: func() { l.leave(addr) },
		}, nil
	}
}

// admit takes a slot for addr, or says which limit refuses it.
func (l *limitListener) admit(addr string) string {
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
	return ""
}

func (l *limitListener) leave(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
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
// message body nor hold a slot forever by trickling NOOPs.
type sessionConn struct {
	net.Conn
	idle    time.Duration
	end     time.Time
	once    sync.Once
	release func()
}

func (c *sessionConn) Read(p []byte) (int, error) {
	d := time.Now().Add(c.idle)
	if d.After(c.end) {
		d = c.end
	}
	if err := c.Conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
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

// hostOf returns the IP of a peer address, or the address itself when it
// has no port (as with net.Pipe).
func hostOf(a net.Addr) string {
	s := a.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}
