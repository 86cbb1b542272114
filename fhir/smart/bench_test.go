package smart

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkTokenExchange measures one token request in process: assertion
// verification (RS384 or ES384), replay check, scope grant and ES256 signing
// of the access token. Assertions are signed before the timer starts.
func BenchmarkTokenExchange(b *testing.B) {
	for _, alg := range []string{"RS384", "ES384"} {
		b.Run(alg, func(b *testing.B) {
			ts, _ := fuzzServer(b)
			method, signKey, kid, iss := jwt.SigningMethod(jwt.SigningMethodRS384), key(b, "rsa"), "rsa-1", rsaClientID
			if alg == "ES384" {
				method, signKey, kid, iss = jwt.SigningMethodES384, key(b, "p384"), "ec-1", ecClientID
			}
			now := newFakeClock().Now()
			bodies := make([]string, b.N)
			for i := range bodies {
				tok := jwt.NewWithClaims(method, jwt.MapClaims{
					"iss": iss, "sub": iss, "aud": ts.TokenURL(), "jti": "bench-" + strconv.Itoa(i),
					"exp": now.Add(4 * time.Minute).Unix(),
				})
				tok.Header["kid"] = kid
				a, err := tok.SignedString(signKey)
				if err != nil {
					b.Fatal(err)
				}
				bodies[i] = tokenForm(a, "system/Task.rs").Encode()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(bodies[i]))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				ts.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkVerify measures access token verification (ES256).
func BenchmarkVerify(b *testing.B) {
	ts, _ := fuzzServer(b)
	issued, err := ts.issuer.issue(Client{ID: "c", OrgID: "o"}, []Scope{{Resource: "Task", Ops: Read | Search}})
	if err != nil {
		b.Fatal(err)
	}
	v := ts.Verifier()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), issued.token); err != nil {
			b.Fatal(err)
		}
	}
}
