package smart

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fuzzServer is a token server with one RSA and one EC client, driven
// without a listener so fuzzing stays fast.
func fuzzServer(f testing.TB) (*TokenServer, func(method jwt.SigningMethod, signKey any, kid, iss string) string) {
	f.Helper()
	clock := newFakeClock()
	reg := &MemoryRegistry{}
	reg.Put(Client{ID: rsaClientID, OrgID: testOrgID, JWKS: JWKS{{KID: "rsa-1", Key: key(f, "rsa").Public()}}, Scopes: []string{"system/*.cruds"}})
	reg.Put(Client{ID: ecClientID, OrgID: testOrgID, JWKS: JWKS{{KID: "ec-1", Key: key(f, "p384").Public()}}, Scopes: []string{"system/Task.rs"}})
	ts, err := NewTokenServer(TokenServerConfig{
		IssuerBase: "https://gateway.example.test", Clients: reg,
		Replay: NewMemoryReplayCache(clock.Now), Key: key(f, "p256"), Clock: clock.Now,
	})
	if err != nil {
		f.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, signKey any, kid, iss string) string {
		now := clock.Now()
		tok := jwt.NewWithClaims(method, jwt.MapClaims{
			"iss": iss, "sub": iss, "aud": ts.TokenURL(), "jti": "fuzz-seed-" + method.Alg(),
			"exp": now.Add(4 * time.Minute).Unix(),
		})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(signKey)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	return ts, sign
}

// corrupt changes the first signature character so the token cannot
// verify; the first character carries six signature bits, never padding.
func corrupt(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	repl := byte('A')
	if tok[i] == 'A' {
		repl = 'B'
	}
	return tok[:i] + string(repl) + tok[i+1:]
}

func FuzzTokenRequest(f *testing.F) {
	ts, sign := fuzzServer(f)
	bad := corrupt(sign(jwt.SigningMethodRS384, key(f, "rsa"), "rsa-1", rsaClientID))
	none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", rsaClientID)
	f.Add(tokenForm(bad, "system/Task.rs").Encode())
	f.Add(tokenForm(none, "system/*.read").Encode())
	f.Add("grant_type=client_credentials&scope=system%2FTask.rs")
	f.Add("grant_type=client_credentials&grant_type=client_credentials")
	f.Add("a=%zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			t.Fatalf("unauthenticated body was granted a token: %q", body)
		}
		var e TokenError
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatalf("error body is not JSON: %v", err)
		}
		if want := newTokenError(e.Code, "").Status; e.Code == "" || want != w.Code {
			t.Fatalf("HTTP %d with error %q (want HTTP %d)", w.Code, e.Code, want)
		}
	})
}

func FuzzClientAssertion(f *testing.F) {
	ts, sign := fuzzServer(f)
	valid := sign(jwt.SigningMethodES384, key(f, "p384"), "ec-1", ecClientID)
	f.Add(valid)
	f.Add(corrupt(sign(jwt.SigningMethodRS384, key(f, "rsa"), "rsa-1", rsaClientID)))
	f.Add(sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", rsaClientID))
	f.Add(sign(jwt.SigningMethodHS256, []byte("guess"), "rsa-1", rsaClientID))
	f.Add(sign(jwt.SigningMethodES384, key(f, "p384-other"), "ec-1", ecClientID))
	f.Add("eyJhbGciOiJSUzM4NCJ9.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, assertion string) {
		v, ref := ts.verifyAssertion(t.Context(), assertion, "")
		if ref == nil {
			if assertion != valid || v.client.ID != ecClientID {
				t.Fatalf("accepted an assertion nobody signed: %q", assertion)
			}
			return
		}
		if ref.err.Code != CodeInvalidClient {
			t.Fatalf("refusal code %q, want invalid_client", ref.err.Code)
		}
		if assertion != "" && len(assertion) > 8 && strings.Contains(ref.err.Description, assertion) {
			t.Fatal("error description echoes the assertion")
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	doc, err := PublicJWKS(
		PublicKeyWithKID{KID: "r", Key: key(f, "rsa").Public()},
		PublicKeyWithKID{KID: "e", Key: key(f, "p384").Public()},
	)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(doc))
	f.Add(`{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"","y":""}]}`)
	f.Add(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`)
	f.Add(`{"keys":null}`)
	f.Fuzz(func(t *testing.T, in string) {
		keys, err := ParseJWKS([]byte(in))
		if err != nil {
			return
		}
		out, err := PublicJWKS(keys...)
		if err != nil {
			t.Fatalf("parsed keys do not render: %v", err)
		}
		again, err := ParseJWKS(out)
		if err != nil || len(again) != len(keys) {
			t.Fatalf("round trip: %d keys, %v; want %d", len(again), err, len(keys))
		}
	})
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"system/Task.read", "system/*.cruds", "system/Task.rs", "system/Patient.*", "patient/Task.r", "system/Task.sr"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScope(in)
		if err != nil {
			return
		}
		if s.Ops == 0 || s.Resource == "" {
			t.Fatalf("ParseScope(%q) = %+v: empty scope accepted", in, s)
		}
		if got := s.String(); got != in {
			t.Fatalf("ParseScope(%q).String() = %q: not canonical", in, got)
		}
	})
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add(`{"access_token":"x","token_type":"bearer","expires_in":300,"scope":"system/Task.rs"}`)
	f.Add(`{"access_token":"","token_type":"bearer"}`)
	f.Add(`{"access_token":"x","token_type":"Bearer","expires_in":1e99}`)
	f.Fuzz(func(t *testing.T, body string) {
		tr, err := parseTokenResponse([]byte(body))
		if err != nil {
			return
		}
		if tr.AccessToken == "" || tr.ExpiresIn < 0 || !strings.EqualFold(tr.TokenType, "bearer") {
			t.Fatalf("accepted invalid response %+v", tr)
		}
	})
}
