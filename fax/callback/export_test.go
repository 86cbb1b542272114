package callback

import "net/http"

// HandlerWith is Handler over a stand-in core, for fuzzing without a
// database.
func HandlerWith(svc core, cfg Config) http.Handler {
	return newHandler(svc, cfg)
}
