package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/referralgw/gateway/fax/callback"
	faxchannel "github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/outbound"
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
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(ec.FaxAPI)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("fax: --fax-api %q is not an absolute http(s) URL", ec.FaxAPI)
	}
	if u.Scheme == "http" {
		if !ec.FaxAllowHTTP {
			return nil, errors.New("fax: --fax-api must be https (PDFs and the vendor credentials would cross the network in clear); --fax-allow-http is for development only")
		}
		log.Warn("DEVELOPMENT ONLY: the fax vendor API is plain http; referral PDFs and the vendor credentials travel in clear", "fax_api_host", u.Host)
	}
	if hc == nil {
		hc = outbound.NewClient(outbound.Config{Timeout: 30 * time.Second, AllowPrivate: ec.privateNetworksOK()})
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
