package outbound_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway/outbound"
)

func TestSSRFTargetsRefused(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	prod := outbound.NewClient(outbound.Config{})
	for _, target := range []string{
		srv.URL,
		"http://localhost" + port,
		"http://[::ffff:127.0.0.1]" + port,
		"http://0.0.0.0" + port,
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/",
		"http://[fe80::1%25lo]/",
	} {
		t.Run(target, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			resp, err := prod.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("production client reached %s", target)
			}
			if !errors.Is(err, outbound.ErrNotPublic) {
				t.Fatalf("error %v, want ErrNotPublic", err)
			}
		})
	}
	if hits != 0 {
		t.Fatalf("the loopback server was reached %d times", hits)
	}

	// An administrator's allowance for one request, and development mode,
	// let it through.
	req, _ := http.NewRequestWithContext(outbound.AllowPrivate(t.Context()), http.MethodGet, srv.URL, nil)
	resp, err := prod.Do(req)
	if err != nil {
		t.Fatalf("allowed private request: %v", err)
	}
	resp.Body.Close()
	resp, err = outbound.NewClient(outbound.Config{AllowPrivate: true}).Get(srv.URL)
	if err != nil {
		t.Fatalf("development client: %v", err)
	}
	resp.Body.Close()
	if hits != 2 {
		t.Fatalf("%d requests arrived, want 2", hits)
	}
}

func TestRedirectDowngradeRefused(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the redirect to plain http was followed")
	}))
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL, http.StatusFound)
	}))
	t.Cleanup(secure.Close)
	tlsCfg := secure.Client().Transport.(*http.Transport).TLSClientConfig
	c := outbound.NewClient(outbound.Config{AllowPrivate: true, TLSConfig: tlsCfg})
	_, err := c.Get(secure.URL)
	if err == nil || !strings.Contains(err.Error(), "refused redirect from https to http") {
		t.Fatalf("error %v, want the downgrade refused", err)
	}
}

func TestEveryRequestHasATimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	c := outbound.NewClient(outbound.Config{AllowPrivate: true, Timeout: 100 * time.Millisecond})
	if c.Timeout <= 0 {
		t.Fatal("client without an overall timeout")
	}
	_, err := c.Get(srv.URL)
	var te interface{ Timeout() bool }
	if err == nil || !errors.As(err, &te) || !te.Timeout() {
		t.Fatalf("a server that never answers gave %v, want a timeout", err)
	}
}
