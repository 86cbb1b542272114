package main

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/referralgw/gateway/fax/callback"
	faxchannel "github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

// faxCallbackPath is where the fax vendor posts its signed callbacks.
const faxCallbackPath = "/fax/callback"

// faxEdge is a node's fax face: the channel that submits to the vendor
// and the settings of the callback endpoint.
type faxEdge struct {
	ch          *faxchannel.Channel
	callbackURL string
	token       []byte
	log         *slog.Logger
}

// newFaxEdge builds the fax channel over the vendor API (Phaxio v2.1 wire
// format) when --fax-api is set; it returns nil when fax is not configured.
// hc sends the API requests (nil: a client with a 30 s timeout).
func newFaxEdge(ec edgeConfig, baseURL string, hc *http.Client, log *slog.Logger) (*faxEdge, error) {
	if ec.FaxAPI == "" {
		return nil, nil
	}
	if ec.FaxKey == "" || ec.FaxSecret == "" || ec.FaxCallbackToken == "" {
		return nil, errors.New("fax: GATEWAY_FAX_KEY, GATEWAY_FAX_SECRET and GATEWAY_FAX_CALLBACK_TOKEN are required with --fax-api")
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cbURL := baseURL + faxCallbackPath
	ch, err := faxchannel.New(faxchannel.Config{
		Vendor:      faxchannel.Phaxio{Client: &phaxio.Client{BaseURL: ec.FaxAPI, APIKey: ec.FaxKey, APISecret: ec.FaxSecret, HTTPClient: hc}},
		CallbackURL: cbURL, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return &faxEdge{ch: ch, callbackURL: cbURL, token: []byte(ec.FaxCallbackToken), log: log}, nil
}

// callback returns the vendor callback handler (POST /fax/callback).
func (f *faxEdge) callback(svc *gateway.Service) http.Handler {
	return callback.Handler(svc, callback.Config{CallbackURL: f.callbackURL, Token: f.token, Logger: f.log})
}
