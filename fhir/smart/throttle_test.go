package smart

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/internal/peer"
)

// countingRegistry counts the lookups a token request costs.
type countingRegistry struct {
	ClientRegistry
	n *atomic.Int64
}

func (c countingRegistry) Client(ctx context.Context, id string) (Client, error) {
	c.n.Add(1)
	return c.ClientRegistry.Client(ctx, id)
}

// fromAddr is an HTTP client whose connections come from the loopback
// address local (any 127.0.0.0/8 address is this host's).
func fromAddr(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// send posts a token request from c.
func (h *harness) send(t *testing.T, c *http.Client, form url.Values) tokenReply {
	t.Helper()
	return h.postWith(t, c, "application/x-www-form-urlencoded", form.Encode())
}

// goodForm is a valid token request with a fresh jti.
func (h *harness) goodForm(t *testing.T) url.Values {
	t.Helper()
	return tokenForm(h.validSpec(t).sign(t), "system/Task.rs")
}

// badForm is a token request whose assertion is signed with a key the
// client never registered: a signature verification that fails.
func (h *harness) badForm(t *testing.T) url.Values {
	t.Helper()
	s := h.validSpec(t)
	s.key = key(t, "rsa-other")
	return tokenForm(s.sign(t), "system/Task.rs")
}

// wantThrottled checks a 429 in the token endpoint's error form.
func wantThrottled(t *testing.T, r tokenReply, desc string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.Error != CodeInvalidClient || !strings.Contains(r.Description, desc) {
		t.Fatalf("got %d %q %q, want 429 %s mentioning %q", r.status, r.Error, r.Description, CodeInvalidClient, desc)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q, want whole seconds", r.header.Get("Retry-After"))
	}
}

func TestTokenEndpointThrottlesFailuresPerAddress(t *testing.T) {
	var lookups atomic.Int64
	h := newHarnessWith(t, func(c *TokenServerConfig) {
		c.Clients = countingRegistry{c.Clients, &lookups}
	})
	attacker, client, newcomer := fromAddr(t, "127.0.0.2"), fromAddr(t, "127.0.0.1"), fromAddr(t, "127.0.0.3")

	if r := h.send(t, client, h.goodForm(t)); r.status != http.StatusOK {
		t.Fatalf("a valid request: %d %s", r.status, r.Description)
	}
	for i := range DefaultFailureBurst {
		if r := h.send(t, attacker, h.badForm(t)); r.status != http.StatusBadRequest {
			t.Fatalf("failure %d within the allowance: %d %s", i+1, r.status, r.Description)
		}
	}
	// Out of allowance: refused before the registry is asked or a signature
	// checked, and the refusal reaches the audit hook.
	before := lookups.Load()
	for range 50 {
		wantThrottled(t, h.send(t, attacker, h.badForm(t)), "from this address")
	}
	if n := lookups.Load() - before; n != 0 {
		t.Errorf("throttled requests cost %d registry lookups", n)
	}
	if d := h.lastDecision(t); d.Granted || !strings.Contains(d.Reason, "too many failed token requests") {
		t.Errorf("decision of a throttled request: %+v", d)
	}
	// Even a valid request from the throttled address waits.
	wantThrottled(t, h.send(t, attacker, h.goodForm(t)), "from this address")

	// Other addresses are not slowed by the attacker's failures: the client
	// that used the endpoint before, and one never seen before. Successes
	// spend no allowance, however many.
	for i := range 2 * DefaultFailureBurst {
		if r := h.send(t, client, h.goodForm(t)); r.status != http.StatusOK {
			t.Fatalf("client request %d while another address is throttled: %d %s", i+1, r.status, r.Description)
		}
	}
	if r := h.send(t, newcomer, h.goodForm(t)); r.status != http.StatusOK {
		t.Fatalf("a new client while another address is throttled: %d %s", r.status, r.Description)
	}

	// The allowance refills with time.
	h.clock.Advance(time.Minute)
	if r := h.send(t, attacker, h.goodForm(t)); r.status != http.StatusOK {
		t.Fatalf("after a minute: %d %s", r.status, r.Description)
	}
}

func TestTokenEndpointBoundsNewAddressesTogether(t *testing.T) {
	h := newHarnessWith(t, func(c *TokenServerConfig) {
		c.NewPeerRequestsPerSecond, c.NewPeerBurst = 1, 3
	})
	client := fromAddr(t, "127.0.0.1")
	if r := h.send(t, client, h.goodForm(t)); r.status != http.StatusOK {
		t.Fatalf("a valid request: %d %s", r.status, r.Description)
	}
	// A flood from many addresses, one failure each: no address runs out of
	// its own allowance, but the new addresses' allowance runs out.
	for i := 1; i <= 2; i++ {
		if r := h.send(t, fromAddr(t, "127.0.1."+strconv.Itoa(i)), h.badForm(t)); r.status != http.StatusBadRequest {
			t.Fatalf("new address %d within the bound: %d %s", i, r.status, r.Description)
		}
	}
	wantThrottled(t, h.send(t, fromAddr(t, "127.0.1.3"), h.badForm(t)), "from new addresses")
	// A new address is refused even with a valid request until the
	// allowance refills; the address that was granted a token before is not.
	wantThrottled(t, h.send(t, fromAddr(t, "127.0.1.4"), h.goodForm(t)), "from new addresses")
	for i := range 10 {
		if r := h.send(t, client, h.goodForm(t)); r.status != http.StatusOK {
			t.Fatalf("known client request %d during the flood: %d %s", i+1, r.status, r.Description)
		}
	}
	h.clock.Advance(time.Second)
	if r := h.send(t, fromAddr(t, "127.0.1.4"), h.goodForm(t)); r.status != http.StatusOK {
		t.Fatalf("a new address after the refill: %d %s", r.status, r.Description)
	}
}

func TestTokenEndpointCountsByPeer(t *testing.T) {
	// The gateway counts an IPv6 client by its /64 (peer.Key); here two
	// loopback addresses are one site.
	h := newHarnessWith(t, func(c *TokenServerConfig) {
		c.FailureBurst = 2
		c.Peer = func(r *http.Request) string {
			if strings.HasPrefix(r.RemoteAddr, "127.0.2.") {
				return "site"
			}
			return peer.Key(r.RemoteAddr)
		}
	})
	a, b := fromAddr(t, "127.0.2.1"), fromAddr(t, "127.0.2.2")
	for _, c := range []*http.Client{a, b} {
		if r := h.send(t, c, h.badForm(t)); r.status != http.StatusBadRequest {
			t.Fatalf("within the site's allowance: %d %s", r.status, r.Description)
		}
	}
	wantThrottled(t, h.send(t, a, h.badForm(t)), "from this address")
	wantThrottled(t, h.send(t, b, h.badForm(t)), "from this address")
	if r := h.send(t, fromAddr(t, "127.0.0.1"), h.goodForm(t)); r.status != http.StatusOK {
		t.Fatalf("another address: %d %s", r.status, r.Description)
	}
}

func TestTokenEndpointServerFailuresAreNotTheClients(t *testing.T) {
	h := newHarnessWith(t, func(c *TokenServerConfig) {
		c.FailureBurst = 1
		c.Clients = failingRegistry{}
	})
	c := fromAddr(t, "127.0.0.1")
	for range 3 {
		if r := h.send(t, c, h.goodForm(t)); r.status != http.StatusInternalServerError {
			t.Fatalf("registry down: %d %s", r.status, r.Description)
		}
	}
}
