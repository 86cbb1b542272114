package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smtpout"
)

// TestDirectChannelSettings: the MDN deadlines and discovery settings given
// as flags reach the Direct channel every command builds (issue 17 case 8:
// deadlines configurable per gateway; entries override them).
func TestDirectChannelSettings(t *testing.T) {
	ca, err := certs.NewDevCA("direct.clinic-a.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trust, err := certs.NewTrustStore(ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	build := func(args ...string) channel.Config {
		t.Helper()
		ec := edgeConfig{DirectDomain: "direct.clinic-a.example", DNSServer: "127.0.0.1:53"}
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		ec.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		ch, err := channel.New(directChannelConfig(ec, certs.NewKeyring(), trust, &smtpout.Sender{}, nil))
		if err != nil {
			t.Fatal(err)
		}
		return ch.Config()
	}
	def := build()
	if def.ProcessedWithin != channel.DefaultProcessedWithin || def.DispatchedWithin != channel.DefaultDispatchedWithin ||
		def.DiscoveryTTL != channel.DefaultDiscoveryTTL || len(def.Sources) != 2 || def.Sources[1].Name != "LDAP" || def.AIA == nil {
		t.Fatalf("defaults: processed %v dispatched %v ttl %v sources %d", def.ProcessedWithin, def.DispatchedWithin, def.DiscoveryTTL, len(def.Sources))
	}
	set := build("--direct-processed-within", "90m", "--direct-dispatched-within", "2h", "--direct-discovery-ttl", "30m", "--direct-no-ldap")
	if set.ProcessedWithin != 90*time.Minute || set.DispatchedWithin != 2*time.Hour || set.DiscoveryTTL != 30*time.Minute ||
		len(set.Sources) != 1 || set.Sources[0].Name != "DNS CERT" {
		t.Fatalf("set: processed %v dispatched %v ttl %v sources %d", set.ProcessedWithin, set.DispatchedWithin, set.DiscoveryTTL, len(set.Sources))
	}
}
