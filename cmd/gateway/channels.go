package main

import "github.com/referralgw/gateway/gateway"

// cliChannels builds the channels a one-shot CLI command needs to route
// (Reachable checks only; sending happens in `serve`'s workers).
func cliChannels(cfg Config) []gateway.Channel {
	return nil
}
