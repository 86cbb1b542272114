package smart

import (
	"encoding/json"
	"net/http"
	"strings"
)

// ConfigurationPath is where SMART discovery is served below the FHIR base.
const ConfigurationPath = "/.well-known/smart-configuration"

// smartConfiguration is the discovery document; it lists only what this
// package implements: backend services with asymmetric client keys.
type smartConfiguration struct {
	TokenEndpoint                string   `json:"token_endpoint"`
	TokenEndpointAuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	GrantTypesSupported          []string `json:"grant_types_supported"`
	ScopesSupported              []string `json:"scopes_supported"`
	Capabilities                 []string `json:"capabilities"`
}

// SmartConfiguration serves the /.well-known/smart-configuration document for
// a server whose token endpoint is issuerBase + TokenPath. It advertises the
// client_credentials grant with private_key_jwt (RS384, ES384), system scopes
// in SMART v1 and v2 syntax, and no user-facing launch capabilities.
func SmartConfiguration(issuerBase string) http.Handler {
	doc := smartConfiguration{
		TokenEndpoint:                strings.TrimRight(issuerBase, "/") + TokenPath,
		TokenEndpointAuthMethods:     []string{"private_key_jwt"},
		TokenEndpointAuthSigningAlgs: assertionAlgs(),
		GrantTypesSupported:          []string{"client_credentials"},
		ScopesSupported:              []string{"system/*.cruds", "system/*.rs", "system/*.read", "system/*.write"},
		Capabilities:                 []string{"client-confidential-asymmetric", "permission-v1", "permission-v2"},
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		// The document holds only strings; this cannot fail.
		body = []byte("{}")
	}
	body = append(body, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	})
}
