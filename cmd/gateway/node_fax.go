package main

import (
	"log/slog"
	"net/http"

	"github.com/referralgw/gateway/gateway"
)

// faxCallbackPath is where the fax vendor posts its signed callbacks.
const faxCallbackPath = "/fax/callback"

// faxEdge is a node's fax face: the channel and the callback endpoint.
type faxEdge struct {
	ch gateway.Channel
	cb http.Handler
}

// newFaxEdge builds the fax channel; the fax adapter is not in this build
// yet, so fax is always "not configured".
func newFaxEdge(ec edgeConfig, baseURL string, log *slog.Logger) (*faxEdge, error) {
	return nil, nil
}

// callback returns the vendor callback handler.
func (f *faxEdge) callback(svc *gateway.Service) http.Handler { return f.cb }
