package smtpin

import (
	"net"
	"sync"
	"time"
)

// limitListener admits at most max concurrent connections; the ones above
// the limit are told 421 and closed at once, so clients retry later instead
// of hanging in the accept backlog.
type limitListener struct {
	net.Listener
	hostname string
	slots    chan struct{}
}

func newLimitListener(l net.Listener, max int, hostname string) *limitListener {
	return &limitListener{Listener: l, hostname: hostname, slots: make(chan struct{}, max)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			go refuse(c, l.hostname)
		}
	}
}

// refuse tells an excess client to come back later.
func refuse(c net.Conn, hostname string) {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write([]byte("421 4.7.0 " + hostname + " too many connections, try again later\r\n"))
	_ = c.Close()
}

// slotConn gives its slot back when closed.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
