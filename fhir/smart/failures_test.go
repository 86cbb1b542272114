package smart

import (
	"context"
	"crypto"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type failingRegistry struct{}

func (failingRegistry) Client(context.Context, string) (Client, error) {
	return Client{}, errors.New("registry: connection refused")
}

type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("replay store: connection refused")
}

func TestTokenServerBackendFailures(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name     string
		clients  ClientRegistry
		replay   ReplayCache
		wantDesc string
	}{
		{"registry down", failingRegistry{}, NewMemoryReplayCache(h.clock.Now), "client registry unavailable"},
		{"replay store down", h.ts.cfg.Clients, failingReplay{}, "replay cache unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Decision
			ts, err := NewTokenServer(TokenServerConfig{
				IssuerBase: h.srv.URL, Clients: tt.clients, Replay: tt.replay,
				Key: key(t, "p256"), Clock: h.clock.Now,
				OnDecision: func(_ context.Context, d Decision) { got = append(got, d) },
			})
			if err != nil {
				t.Fatal(err)
			}
			_, ref := ts.verifyAssertion(t.Context(), h.validSpec(t).sign(t), "")
			if ref == nil || ref.err.Status != http.StatusInternalServerError || ref.err.Code != CodeServerError || ref.err.Description != tt.wantDesc {
				t.Fatalf("refusal = %+v, want 500 server_error %q", ref, tt.wantDesc)
			}
			if strings.Contains(ref.err.Description, "connection refused") {
				t.Error("backend error text leaked to the client")
			}
		})
	}
}

func TestDecisionTruncatesClaimedIDs(t *testing.T) {
	h := newHarness(t)
	spec := h.validSpec(t)
	long := strings.Repeat("x", 500)
	spec.claims["iss"], spec.claims["sub"] = long, long
	h.postForm(t, tokenForm(spec.sign(t), strings.Repeat("system/Task.r ", 100)))
	d := h.lastDecision(t)
	if d.Granted || len(d.ClientID) != maxIDLen || len(d.Scopes) != 32 {
		t.Errorf("decision client id %d bytes, %d scopes; want %d and 32", len(d.ClientID), len(d.Scopes), maxIDLen)
	}
}

// opaqueSigner hides the concrete key type, as an HSM or KMS handle would.
type opaqueSigner struct{ inner crypto.Signer }

func (s opaqueSigner) Public() crypto.PublicKey { return s.inner.Public() }
func (s opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.inner.Sign(r, digest, opts)
}

func TestOpaqueSigners(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, clientID, kid, keyName string
	}{
		{"RSA", rsaClientID, "rsa-1", "rsa"},
		{"P-384", ecClientID, "ec-1", "p384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &TokenSource{
				TokenURL: h.tokenURL, ClientID: tt.clientID, Key: opaqueSigner{key(t, tt.keyName)}, KeyID: tt.kid,
				Scopes: []string{"system/Task.rs"}, HTTPClient: h.srv.Client(), Clock: h.clock.Now,
			}
			tok, err := src.Token(t.Context())
			if err != nil {
				t.Fatalf("Token with opaque %s signer: %v", tt.name, err)
			}
			if _, err := h.ts.Verifier().Verify(t.Context(), tok); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}

	// The token server's own key may be opaque too. (The verifier asks the
	// registry for the token's client, so "c" is registered.)
	reg := &MemoryRegistry{}
	reg.Put(Client{ID: "c", OrgID: "o", Scopes: []string{"system/Task.r"}})
	ts, err := NewTokenServer(TokenServerConfig{
		IssuerBase: "https://gw.example.test", Clients: reg, Replay: NewMemoryReplayCache(nil),
		Key: opaqueSigner{key(t, "p256")}, Clock: h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ts.issuer.issue(Client{ID: "c", OrgID: "o"}, []Scope{{Resource: "Task", Ops: Read}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := ts.Verifier().Verify(t.Context(), issued.token); err != nil || p.ClientID != "c" {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
}
