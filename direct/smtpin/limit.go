package smtpin

import (
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// limitListener admits at most max concurrent sessions in all and perAddr
// from one client address (an IPv6 client's /64); the ones above a limit are told 421 and closed
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

	mu       sync.Mutex
	total    int
	byAddr   map[string]int
	open     map[*sessionConn]struct{}
	draining bool // Shutdown has begun: sessions end at their next command
}

func (s *Server) newLimitListener(l net.Listener) *limitListener {
	return &limitListener{
		Listener: l, hostname: s.cfg.Hostname,
		max: s.cfg.MaxConnections, perAddr: s.cfg.MaxConnectionsPerAddr,
		idle: s.cfg.IdleTimeout, session: s.cfg.MaxSessionDuration,
		refused: s.refused, byAddr: make(map[string]int), open: make(map[*sessionConn]struct{}),
	}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(c.RemoteAddr())
		addr := clientKey(host)
		sc := &sessionConn{Conn: c, idle: l.idle, end: time.Now().Add(l.session)}
		if reason := l.admit(addr, sc); reason != "" {
			l.refused(host, reason)
			go refuse(c, l.hostname, reason)
			continue
		}
		sc.release = func() { l.leave(addr, sc) }
		return sc, nil
	}
}

// clientKey is what the per-address cap counts a peer under: an IPv4
// address, or the /64 an IPv6 address is in, since one site is given a
// whole /64 (or more) and could otherwise open every session from it.
// It is the gateway's peer.Key rule, kept here because a protocol package
// imports nothing of the gateway.
func clientKey(host string) string {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip.WithZone(""), 64).Masked().String()
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
// message body nor hold a slot forever by trickling NOOPs.
//
// Once drained, a read outside a message fails as a timeout would, so the
// SMTP engine answers 421 and ends the session.
type sessionConn struct {
	net.Conn
	idle    time.Duration
	end     time.Time
	once    sync.Once
	release func()

	mu       sync.Mutex
	inData   bool // a message is being received
	draining bool
}

func (c *sessionConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.draining && !c.inData {
		c.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	d := time.Now().Add(c.idle)
	if d.After(c.end) {
		d = c.end
	}
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
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
