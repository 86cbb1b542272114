package httpedge_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway/httpedge"
)

// serve runs h behind an Edge with lim on 127.0.0.1 and returns its address.
func serve(t *testing.T, lim httpedge.Limits, h http.Handler) string {
	t.Helper()
	e := httpedge.New(lim)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.Server(h)
	go func() { _ = srv.Serve(e.Listener(l)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// dialFrom connects to addr from the loopback address local.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// get sends one keep-alive GET on c and returns the response.
func get(t *testing.T, c net.Conn, r *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: gw.example\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// held opens a connection from local, completes one request on it, and
// leaves it open so that it counts against the caps.
func held(t *testing.T, local, addr string) {
	t.Helper()
	c := dialFrom(t, local, addr)
	if resp := get(t, c, bufio.NewReader(c)); resp.StatusCode != http.StatusOK {
		t.Fatalf("held connection from %s: %d", local, resp.StatusCode)
	}
}

func wantRefused(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d", resp.StatusCode, status)
	}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n <= 0 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

func TestConnectionCapAnswered503(t *testing.T) {
	addr := serve(t, httpedge.Limits{MaxConns: 2}, ok)
	held(t, "127.0.0.1", addr)
	held(t, "127.0.0.2", addr)
	c := dialFrom(t, "127.0.0.3", addr)
	resp := get(t, c, bufio.NewReader(c))
	wantRefused(t, resp, http.StatusServiceUnavailable)
	if !resp.Close {
		t.Error("the connection over the cap is kept open")
	}
}

func TestPerAddressConnectionCapAnswered429(t *testing.T) {
	addr := serve(t, httpedge.Limits{MaxConnsPerAddr: 2}, ok)
	held(t, "127.0.0.1", addr)
	held(t, "127.0.0.1", addr)
	c := dialFrom(t, "127.0.0.1", addr)
	wantRefused(t, get(t, c, bufio.NewReader(c)), http.StatusTooManyRequests)
	held(t, "127.0.0.2", addr) // another client is served
}

func TestInFlightPerAddressCapAnswered429(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			once.Do(func() { close(entered) })
			<-release
		}
		io.WriteString(w, "ok")
	})
	addr := serve(t, httpedge.Limits{MaxInFlightPerAddr: 1}, h)
	slow := dialFrom(t, "127.0.0.1", addr)
	done := make(chan error, 1)
	go func() {
		_, err := io.WriteString(slow, "GET /slow HTTP/1.1\r\nHost: gw.example\r\n\r\n")
		done <- err
	}()
	<-entered
	c := dialFrom(t, "127.0.0.1", addr)
	wantRefused(t, get(t, c, bufio.NewReader(c)), http.StatusTooManyRequests)
	other := dialFrom(t, "127.0.0.2", addr)
	if resp := get(t, other, bufio.NewReader(other)); resp.StatusCode != http.StatusOK {
		t.Fatalf("another address during the first's slow request: %d", resp.StatusCode)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSlowBodyConnectionsClosed(t *testing.T) {
	var mu sync.Mutex
	var complete int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err == nil {
			mu.Lock()
			complete++
			mu.Unlock()
		}
	})
	addr := serve(t, httpedge.Limits{BodyTimeout: 300 * time.Millisecond, MaxConnsPerAddr: 100}, h)
	const conns = 20
	var wg sync.WaitGroup
	for range conns {
		c := dialFrom(t, "127.0.0.1", addr)
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: gw.example\r\nContent-Length: 100000\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			// Trickle one byte at a time until the server hangs up.
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for range tick.C {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Error("a slow-body connection was still open after 30 s")
			}
			_ = c.Close()
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if complete != 0 {
		t.Fatalf("%d trickled bodies were read to the end", complete)
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/Task", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, `{"resourceType":"Bundle"}`)
	})
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		io.WriteString(w, "<!doctype html><title>x</title>")
	})
	addr := serve(t, httpedge.Limits{}, mux)
	for path, csp := range map[string]string{
		"/fhir/Task": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
		"/page":      "default-src 'self'; frame-ancestors 'none'",
		"/missing":   "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Content-Security-Policy") != csp {
			t.Errorf("%s: headers %v", path, h)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain http", path)
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: may be framed", path)
		}
	}
}

// posingListener gives each accepted connection the next remote address
// from as, so that a test on loopback can speak for clients elsewhere.
type posingListener struct {
	net.Listener
	as chan net.Addr
}

func (l posingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return posingConn{Conn: c, remote: <-l.as}, nil
}

type posingConn struct {
	net.Conn
	remote net.Addr
}

func (c posingConn) RemoteAddr() net.Addr { return c.remote }

func TestPerAddressCapsCountAnIPv6SubnetAsOneClient(t *testing.T) {
	e := httpedge.New(httpedge.Limits{MaxConnsPerAddr: 2})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	as := make(chan net.Addr, 1)
	srv := e.Server(ok)
	go func() { _ = srv.Serve(e.Listener(posingListener{Listener: l, as: as})) }()
	t.Cleanup(func() { _ = srv.Close() })
	from := func(ip string) *http.Response {
		t.Helper()
		as <- &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}
		c := dialFrom(t, "127.0.0.1", l.Addr().String())
		return get(t, c, bufio.NewReader(c))
	}
	// One host on an IPv6 network has its whole /64 to connect from.
	for _, ip := range []string{"2001:db8:0:7::1", "2001:db8:0:7::2"} {
		if resp := from(ip); resp.StatusCode != http.StatusOK {
			t.Fatalf("connection from %s: %d", ip, resp.StatusCode)
		}
	}
	wantRefused(t, from("2001:db8:0:7:ffff::3"), http.StatusTooManyRequests)
	for _, ip := range []string{"2001:db8:0:8::1", "192.0.2.1"} {
		if resp := from(ip); resp.StatusCode != http.StatusOK {
			t.Fatalf("connection from %s, another client: %d", ip, resp.StatusCode)
		}
	}
}
