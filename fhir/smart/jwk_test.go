package smart

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJWKSRoundTrip(t *testing.T) {
	in := []PublicKeyWithKID{
		{KID: "rsa-1", Key: key(t, "rsa").Public()},
		{KID: "ec-384", Key: key(t, "p384").Public()},
		{KID: "ec-256", Key: key(t, "p256").Public()},
		{KID: "rsa-at", Key: key(t, "rsa-other").Public(), Alg: "RS256"},
	}
	doc, err := PublicJWKS(in...)
	if err != nil {
		t.Fatalf("PublicJWKS: %v", err)
	}
	var wire struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(doc, &wire); err != nil {
		t.Fatal(err)
	}
	wantAlg := []string{"RS384", "ES384", "ES256", "RS256"}
	for i, k := range wire.Keys {
		if k["alg"] != wantAlg[i] || k["use"] != "sig" || k["kid"] != in[i].KID {
			t.Errorf("key %d = %v, want alg %s use sig kid %s", i, k, wantAlg[i], in[i].KID)
		}
		if k["d"] != "" {
			t.Errorf("key %d leaks a private member", i)
		}
	}
	out, err := ParseJWKS(doc)
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	if len(out) != len(in) {
		t.Fatalf("parsed %d keys, want %d", len(out), len(in))
	}
	for _, want := range in {
		got, ok := out.Lookup(want.KID)
		if !ok {
			t.Fatalf("kid %q missing", want.KID)
		}
		type equaler interface{ Equal(crypto.PublicKey) bool }
		if !got.Key.(equaler).Equal(want.Key) {
			t.Errorf("kid %q: key differs after round trip", want.KID)
		}
	}
	if _, ok := out.Lookup("nope"); ok {
		t.Error("Lookup of unknown kid succeeded")
	}
}

// jwkJSON renders one JWK object from the public key of a test key, then
// lets the caller edit its members.
func jwkJSON(t *testing.T, name string, edit func(map[string]any)) string {
	t.Helper()
	doc, err := PublicJWKS(PublicKeyWithKID{KID: "k1", Key: key(t, name).Public()})
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &wire); err != nil {
		t.Fatal(err)
	}
	edit(wire.Keys[0])
	out, err := json.Marshal(wire)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestParseJWKSRefusals(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"not json", `{"keys":`, "decode"},
		{"no keys member", `{}`, `no "keys"`},
		{"empty keys", `{"keys":[]}`, "no signing keys"},
		{"only enc keys", jwkJSON(t, "rsa", func(m map[string]any) { m["use"] = "enc" }), "no signing keys"},
		{"missing kid", jwkJSON(t, "rsa", func(m map[string]any) { delete(m, "kid") }), "missing kid"},
		{"private RSA", jwkJSON(t, "rsa", func(m map[string]any) { m["d"] = b64([]byte{1, 2, 3}) }), "private"},
		{"private EC", jwkJSON(t, "p384", func(m map[string]any) { m["d"] = b64([]byte{1, 2, 3}) }), "private"},
		{"symmetric", `{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`, "private or symmetric"},
		{"oct without k", `{"keys":[{"kty":"oct","kid":"s"}]}`, "unsupported kty"},
		{"OKP", `{"keys":[{"kty":"OKP","kid":"e","crv":"Ed25519","x":"AA"}]}`, "unsupported kty"},
		{"small RSA", `{"keys":[{"kty":"RSA","kid":"r","n":"` + b64(make([]byte, 128)) + `","e":"AQAB"}]}`, "below 2048"},
		{"even exponent", jwkJSON(t, "rsa", func(m map[string]any) { m["e"] = b64([]byte{1, 0, 0}) }), "bad exponent"},
		{"padded base64", jwkJSON(t, "rsa", func(m map[string]any) { m["e"] = "AQAB==" }), "bad exponent"},
		{"P-521", jwkJSON(t, "p384", func(m map[string]any) { m["crv"] = "P-521" }), "unsupported crv"},
		{"short coordinate", jwkJSON(t, "p384", func(m map[string]any) { m["x"] = b64(make([]byte, 47)) }), "coordinates"},
		{"off-curve point", jwkJSON(t, "p384", func(m map[string]any) { m["y"] = b64(make([]byte, 48)) }), "point"},
		{"alg mismatch RSA", jwkJSON(t, "rsa", func(m map[string]any) { m["alg"] = "ES384" }), "does not fit"},
		{"alg mismatch EC", jwkJSON(t, "p384", func(m map[string]any) { m["alg"] = "ES256" }), "does not fit"},
		{"use other", jwkJSON(t, "rsa", func(m map[string]any) { m["use"] = "wrap" }), "unsupported use"},
		{
			"duplicate kid",
			`{"keys":[` + strings.TrimSuffix(strings.TrimPrefix(jwkJSON(t, "rsa", func(map[string]any) {}), `{"keys":[`), `]}`) + "," +
				strings.TrimSuffix(strings.TrimPrefix(jwkJSON(t, "p384", func(map[string]any) {}), `{"keys":[`), `]}`) + `]}`,
			"duplicate kid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJWKS([]byte(tt.doc))
			if !errors.Is(err, ErrJWKS) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseJWKS = %v, %v; want ErrJWKS containing %q", got, err, tt.wantErr)
			}
		})
	}
}

func TestParseJWKSAcceptsForeignMembers(t *testing.T) {
	doc := jwkJSON(t, "p384", func(m map[string]any) {
		m["key_ops"] = []string{"verify"}
		m["x5t#S256"] = "ignored"
	})
	keys, err := ParseJWKS([]byte(doc))
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	if _, ok := keys[0].Key.(*ecdsa.PublicKey); !ok || keys[0].Alg != "ES384" {
		t.Errorf("parsed %+v, want an ES384 EC key", keys[0])
	}
}

func TestPublicJWKSRefusals(t *testing.T) {
	tests := []struct {
		name string
		key  PublicKeyWithKID
	}{
		{"no kid", PublicKeyWithKID{Key: key(t, "rsa").Public()}},
		{"unsupported type", PublicKeyWithKID{KID: "x", Key: "not a key"}},
		{"alg does not fit", PublicKeyWithKID{KID: "x", Key: key(t, "p256").Public(), Alg: "RS384"}},
		{"nil key", PublicKeyWithKID{KID: "x", Key: (*rsa.PublicKey)(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := PublicJWKS(tt.key); !errors.Is(err, ErrJWKS) {
				t.Errorf("PublicJWKS err = %v, want ErrJWKS", err)
			}
		})
	}
}
