package main

import (
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/fhir/push"
	"github.com/referralgw/gateway/gateway"
)

// cliChannels builds the channels a one-shot CLI command needs to route
// (Reachable checks only; sending happens in `serve`'s workers). The edge
// settings come from the environment (GATEWAY_DIRECT_DOMAIN, ...), as
// `serve` would read them; a channel that cannot be built is left out, and
// routing then names it unreachable.
func cliChannels(cfg Config) []gateway.Channel {
	ec := cfg.Edges
	out := []gateway.Channel{push.New(push.Config{AllowHTTP: ec.FHIRAllowHTTP, AllowPrivateNetworks: ec.privateNetworksOK()})}
	if ec.DirectDomain != "" && ec.DirectCerts != "" {
		if keys, trust, _, err := loadDirectCerts(ec.DirectCerts); err == nil {
			// The sender is never used: one-shot commands do not send.
			if snd, err := smtpout.New(smtpout.Config{Smarthost: ec.Smarthost, HELO: "gw." + ec.DirectDomain, AllowPrivate: ec.privateNetworksOK()}); err == nil {
				if ch, err := channel.New(directChannelConfig(ec, keys, trust, snd, nil)); err == nil {
					out = append(out, ch)
				}
			}
		}
	}
	if f, err := newFaxEdge(ec, "http://"+cfg.HTTPAddr, nil, nil); err == nil && f != nil {
		out = append(out, f.ch)
	}
	return out
}
