package callback

import "net/http"

// HandlerWith is Handler over a stand-in core and replay memory, for fuzzing
// without a database.
func HandlerWith(svc core, docs documents, cfg Config) http.Handler {
	return newHandler(svc, docs, cfg)
}
