package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// TestAdminClientsOverSmartstore drives the adapter against a real
// smartstore on the embedded store: refusals name their field, a client
// registered with a real P-384 JWKS is listed with its key id, and once
// disabled the token endpoint refuses it until it is enabled again.
func TestAdminClientsOverSmartstore(t *testing.T) {
	ctx := t.Context()
	st, err := litestore.Open(ctx, filepath.Join(t.TempDir(), "g.db"), storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sealer, err := gateway.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc := gateway.NewService(st, sealer, nil, gateway.DefaultConfig(), nil)
	store := smartstore.New(svc)
	reg := newAdminClients(store)

	clientKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := smart.PublicJWKS(smart.PublicKeyWithKID{KID: "ehr-key-1", Key: &clientKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}

	refusals := []struct {
		name   string
		scopes []string
		jwks   []byte
		field  string
	}{
		{"patient scope", []string{"system/Task.rs", "patient/Task.read"}, jwks, "scopes[1]"},
		{"symmetric key", []string{"system/Task.rs"}, []byte(`{"keys":[{"kty":"oct","kid":"s","k":"AAAA"}]}`), "jwks"},
		{"no keys", []string{"system/Task.rs"}, []byte(`{"keys":[]}`), "jwks"},
		{"not json", []string{"system/Task.rs"}, []byte(`keys`), "jwks"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reg.Register(ctx, "user:ada", admin.ClientInfo{ID: "ehr-bad", OrgID: "clinic-a", Scopes: tc.scopes}, tc.jwks)
			var ve *gateway.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("err = %v, want a field error on %q", err, tc.field)
			}
		})
	}

	got, err := reg.Register(ctx, "user:ada", admin.ClientInfo{ID: "ehr-1", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}}, jwks)
	if err != nil {
		t.Fatal(err)
	}
	want := admin.ClientInfo{ID: "ehr-1", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}, KeyIDs: []string{"ehr-key-1"}}
	list, err := reg.Clients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sameClient(got, want) || len(list) != 1 || !sameClient(list[0], want) {
		t.Fatalf("registered %+v, listed %+v; want %+v", got, list, want)
	}

	// The real token endpoint with the store as registry and replay cache.
	signKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tokens, err := smart.NewTokenServer(smart.TokenServerConfig{IssuerBase: srv.URL, Clients: store, Replay: store, Key: signKey})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(smart.TokenPath, tokens)
	token := func() error {
		ts := &smart.TokenSource{TokenURL: tokens.TokenURL(), ClientID: "ehr-1", Key: clientKey, KeyID: "ehr-key-1",
			Scopes: []string{"system/Task.rs"}, HTTPClient: srv.Client()}
		_, err := ts.Token(ctx)
		return err
	}

	steps := []struct {
		disabled bool
		refused  bool
	}{
		{false, false}, // as registered
		{true, true},
		{false, false},
	}
	for i, st := range steps {
		if i > 0 {
			c, err := reg.SetDisabled(ctx, "user:ada", "ehr-1", st.disabled)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			want.Disabled = st.disabled
			if !sameClient(c, want) {
				t.Fatalf("step %d: %+v, want %+v", i, c, want)
			}
		}
		err := token()
		var te *smart.TokenError
		switch {
		case st.refused && !(errors.As(err, &te) && te.Code == smart.CodeInvalidClient):
			t.Fatalf("step %d: disabled client got %v, want invalid_client", i, err)
		case !st.refused && err != nil:
			t.Fatalf("step %d: enabled client refused: %v", i, err)
		}
	}

	if _, err := reg.SetDisabled(ctx, "user:ada", "nobody", true); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("unknown client: err = %v, want gateway.ErrNotFound", err)
	}
}

func sameClient(a, b admin.ClientInfo) bool {
	return a.ID == b.ID && a.OrgID == b.OrgID && a.Disabled == b.Disabled &&
		slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.KeyIDs, b.KeyIDs)
}
