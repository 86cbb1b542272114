package httpedge

import "net/http"

// HSTS is the Strict-Transport-Security value sent over TLS: two years,
// subdomains included.
const HSTS = "max-age=63072000; includeSubDomains"

// apiCSP is the Content-Security-Policy of responses that are not pages:
// nothing may load, nothing may frame them. A handler serving HTML sets
// its own policy over it.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

// SecurityHeaders sets on every response the headers that fit any route:
// no content sniffing, no referrer, no framing, the restrictive policy
// above unless the handler sets its own, and HSTS when the request came
// over TLS.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", apiCSP)
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", HSTS)
		}
		next.ServeHTTP(w, r)
	})
}
