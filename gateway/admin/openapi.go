package admin

import (
	_ "embed"
	"net/http"
)

// openAPI is the admin API described as an OpenAPI 3.1 document. The test
// in openapi_test.go holds it to the handlers: every route registered
// under /admin/v1 is in it and every path in it is served, and live
// answers validate against its schemas.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) routeOpenAPI() {
	s.mux.HandleFunc("GET /admin/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(openAPI)
	})
	// The API's root names its description, instead of a 404.
	s.mux.HandleFunc("GET /admin/v1/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"openapi": "/admin/v1/openapi.json", "login": "/admin/v1/login"})
	})
}
