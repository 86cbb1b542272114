package smart_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/referralgw/gateway/fhir/smart"
)

// A partner EHR registers with the gateway using its JWKS, then obtains and
// uses an access token; the gateway's FHIR API checks it with a Verifier.
func Example() {
	ctx := context.Background()

	// Keys: the partner's assertion key (P-384) and the gateway's token key (P-256).
	partnerKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	gatewayKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}

	// The partner publishes its JWKS; an administrator registers it.
	jwksDoc, err := smart.PublicJWKS(smart.PublicKeyWithKID{KID: "partner-2026", Key: partnerKey.Public()})
	if err != nil {
		log.Fatal(err)
	}
	jwks, err := smart.ParseJWKS(jwksDoc)
	if err != nil {
		log.Fatal(err)
	}
	clients := &smart.MemoryRegistry{}
	clients.Put(smart.Client{
		ID: "partner-ehr", OrgID: "org-northside-cardiology", JWKS: jwks,
		Scopes: []string{"system/Task.cruds", "system/ServiceRequest.rs"},
	})

	// The gateway serves the token endpoint and discovery.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tokens, err := smart.NewTokenServer(smart.TokenServerConfig{
		IssuerBase: srv.URL,
		Clients:    clients,
		Replay:     smart.NewMemoryReplayCache(nil),
		Key:        gatewayKey,
		OnDecision: func(_ context.Context, d smart.Decision) {
			fmt.Printf("audit: client=%s org=%s granted=%v scopes=%v\n", d.ClientID, d.OrgID, d.Granted, d.Scopes)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle(smart.TokenPath, tokens)
	mux.Handle(smart.ConfigurationPath, smart.SmartConfiguration(srv.URL))

	// The partner asks for more than it may have; it gets the intersection.
	src := &smart.TokenSource{
		TokenURL: srv.URL + smart.TokenPath,
		ClientID: "partner-ehr",
		Key:      partnerKey,
		KeyID:    "partner-2026",
		Scopes:   []string{"system/Task.rs", "system/ServiceRequest.cruds"},
	}
	token, err := src.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("granted:", src.GrantedScope())

	// The FHIR API authenticates a request carrying the token.
	req := httptest.NewRequest(http.MethodGet, "/fhir/Task?owner=x", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	p, err := tokens.Verifier().Authenticate(req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("principal:", p.ClientID, p.OrgID)
	fmt.Println("search Task:", p.Allows("Task", smart.Search))
	fmt.Println("create ServiceRequest:", p.Allows("ServiceRequest", smart.Create))
	// Output:
	// audit: client=partner-ehr org=org-northside-cardiology granted=true scopes=[system/Task.rs system/ServiceRequest.rs]
	// granted: system/Task.rs system/ServiceRequest.rs
	// principal: partner-ehr org-northside-cardiology
	// search Task: true
	// create ServiceRequest: false
}

func ExampleParseScope() {
	for _, s := range []string{"system/Task.read", "system/ServiceRequest.cu", "patient/Task.rs"} {
		scope, err := smart.ParseScope(s)
		if err != nil {
			fmt.Println(s, "->", err)
			continue
		}
		fmt.Printf("%s -> resource %s ops %s\n", s, scope.Resource, scope.Ops)
	}
	// Output:
	// system/Task.read -> resource Task ops rs
	// system/ServiceRequest.cu -> resource ServiceRequest ops cu
	// patient/Task.rs -> smart: scope syntax: "patient/Task.rs": not a system/ scope
}

func ExamplePrincipal_Allows() {
	scopes, err := smart.ParseScopes("system/Task.write system/*.rs")
	if err != nil {
		log.Fatal(err)
	}
	p := smart.Principal{ClientID: "partner-ehr", OrgID: "org-1", Scopes: scopes}
	fmt.Println(p.Allows("Task", smart.Update), p.Allows("Patient", smart.Read), p.Allows("Patient", smart.Delete))
	// Output: true true false
}

func ExampleParseJWKS() {
	// A JWKS an administrator received from a partner, with a private
	// member pasted by mistake: the whole file is refused.
	_, err := smart.ParseJWKS([]byte(`{"keys":[{"kty":"EC","kid":"k1","crv":"P-384","x":"AA","y":"AA","d":"AA"}]}`))
	fmt.Println(err)
	// Output: smart: jwks: key 0 (kid "k1"): contains private or symmetric key material
}
