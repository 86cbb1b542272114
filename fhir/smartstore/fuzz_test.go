package smartstore_test

import (
	"testing"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
)

// FuzzRegister feeds outside JWKS documents to Register: whatever it
// accepts must read back with the same key ids, and nothing may panic.
func FuzzRegister(f *testing.F) {
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-384","kid":"k","x":"AA","y":"AA"}]}`))
	f.Add(jwksFor(f, "seed", newKey(f)))
	svc, _ := newService(f)
	s := smartstore.New(svc)
	f.Fuzz(func(t *testing.T, jwks []byte) {
		c, err := s.Register(t.Context(), "user:fuzz", smart.Client{ID: "fuzz", OrgID: "clinic-a", Scopes: []string{"system/Task.rs"}}, jwks)
		if err != nil {
			return
		}
		back, err := s.Client(t.Context(), "fuzz")
		if err != nil {
			t.Fatalf("accepted registration does not read back: %v", err)
		}
		if len(back.JWKS) != len(c.JWKS) {
			t.Fatalf("%d keys stored, %d read back", len(c.JWKS), len(back.JWKS))
		}
	})
}
