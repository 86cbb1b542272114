package smtpin

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeListener hands out the server ends of in-memory connections.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dial returns the client end of a new connection to the server.
func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// FuzzSession drives the SMTP session state machine with arbitrary client
// bytes over net.Pipe and checks what must always hold: the server answers
// only with well-formed replies, never spools mail for a foreign domain or
// beyond the size limit, and ends every session when the client goes away.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"EHLO c.example\r\nMAIL FROM:<a@direct.sender.example>\r\nRCPT TO:<intake@direct.receiver.example>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<victim@elsewhere.example>\r\nDATA\r\nx\r\n.\r\n",
		"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<intake@direct.receiver.example>\r\nDATA\r\nx\n.\nMAIL FROM:<evil@x>\r\n.\r\n",
		"EHLO c\r\nMAIL FROM:<a@b> SIZE=999999999\r\n",
		"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<intake@direct.receiver.example>\r\nBDAT 5 LAST\r\nhello",
		"EHLO c\r\nSTARTTLS\r\nAUTH PLAIN AGFhAGI=\r\nRSET\r\nNOOP\r\nVRFY x\r\nHELP\r\n",
		"EHLO " + strings.Repeat("x", 3000) + "\r\n",
		"\r\n\x00\xff\r\nDATA\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(fuzzSession)
}

func fuzzSession(t *testing.T, script []byte) {
	{
		spool, err := NewDirSpool(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		const maxBytes = 4096
		srv, err := New(Config{
			Hostname: "mx.direct.receiver.example", Domains: []string{"direct.receiver.example"},
			Mailboxes: mailboxSet{"intake@direct.receiver.example": true}, Spool: spool,
			MaxMessageBytes: maxBytes, MaxRecipients: 3, IdleTimeout: 2 * time.Second,
			TempDir: t.TempDir(), Now: func() time.Time { return fixedNow },
		})
		if err != nil {
			t.Fatal(err)
		}
		l := newPipeListener()
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()

		conn := l.dial()
		go func() {
			_, _ = conn.Write(script)
			_ = conn.Close()
		}()
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			if !validReply(line) {
				t.Fatalf("malformed reply %q", line)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Fatalf("session did not end after the client left: %v", err)
		}
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		ids, err := spool.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			env, raw, err := spool.Load(id)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) > maxBytes {
				t.Errorf("spooled %d bytes over a %d-byte limit", len(raw), maxBytes)
			}
			for _, rcpt := range env.RcptTo {
				if !strings.EqualFold(rcpt, "intake@direct.receiver.example") {
					t.Errorf("spooled mail for %q", rcpt)
				}
			}
		}
	}
}

// validReply reports whether line is an RFC 5321 reply line.
func validReply(line string) bool {
	if !strings.HasSuffix(line, "\r\n") || len(line) < 5 {
		return false
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return line[0] >= '2' && line[0] <= '5' && (line[3] == ' ' || line[3] == '-')
}
