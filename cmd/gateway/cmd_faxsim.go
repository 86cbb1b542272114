package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/referralgw/gateway/fax/faxsim"
)

// behaviorList is the repeatable --behavior NUMBER=OUTCOME flag.
type behaviorList map[string]faxsim.Behavior

func (b behaviorList) String() string { return fmt.Sprint(map[string]faxsim.Behavior(b)) }

func (b behaviorList) Set(v string) error {
	number, outcome, ok := strings.Cut(v, "=")
	switch o := faxsim.Behavior(outcome); {
	case !ok || !strings.HasPrefix(number, "+"):
		return errors.New("want +E164NUMBER=OUTCOME")
	case o == faxsim.Success, o == faxsim.Busy, o == faxsim.NoAnswer, o == faxsim.Fail, o == faxsim.BusyThenSuccess, o == faxsim.Unavailable:
		b[number] = o
		return nil
	}
	return fmt.Errorf("outcome %q: one of success, busy, no-answer, fail, busy-then-success, unavailable", outcome)
}

// cmdFaxsim runs the fax vendor EMULATOR on its own: Phaxio's API v2.1 on
// HTTP, with signed callbacks to each fax's callback URL, so a fax set-up
// can be tried without a vendor. No fax is ever transmitted.
func cmdFaxsim(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("faxsim", &cfg, stderr, noFlags)
	listen := fs.String("listen", "127.0.0.1:4010", "listen `address` of the emulated Phaxio API")
	key := fs.String("key", cfg.Edges.FaxKey, "API key the emulator expects (env GATEWAY_FAX_KEY; default: a new random one)")
	secret := fs.String("secret", cfg.Edges.FaxSecret, "API secret the emulator expects (env GATEWAY_FAX_SECRET; default: a new random one)")
	token := fs.String("callback-token", cfg.Edges.FaxCallbackToken, "callback signing token (env GATEWAY_FAX_CALLBACK_TOKEN; default: a new random one)")
	delay := fs.Duration("callback-delay", time.Second, "wait before posting each fax's callback")
	behaviors := behaviorList{}
	fs.Var(behaviors, "behavior", "outcome for faxes to one number, e.g. +15555550100=busy (repeatable): success, busy, no-answer, fail, busy-then-success, unavailable")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("faxsim takes no arguments")
	}
	var generated []string
	for _, p := range []struct {
		v   *string
		env string
	}{{key, "GATEWAY_FAX_KEY"}, {secret, "GATEWAY_FAX_SECRET"}, {token, "GATEWAY_FAX_CALLBACK_TOKEN"}} {
		if *p.v == "" {
			*p.v = randomToken()
			generated = append(generated, fmt.Sprintf("export %s=%s", p.env, *p.v))
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("faxsim: listen %s: %w", *listen, err)
	}
	sim := faxsim.New(faxsim.Config{APIKey: *key, APISecret: *secret, CallbackToken: []byte(*token),
		Behaviors: behaviors, CallbackDelay: *delay})
	defer sim.Close()
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "fax EMULATOR (Phaxio API v2.1; no fax is ever transmitted) listening on http://%s\n", ln.Addr())
	if len(generated) > 0 {
		fmt.Fprintf(stdout, "credentials for the gateway (generated for this run):\n  %s\n", strings.Join(generated, "\n  "))
	}
	fmt.Fprintf(stdout, "point the gateway at it: gateway serve --fax-api http://%s --fax-vendor <vendor id>\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return fmt.Errorf("faxsim: %w", err)
	}
}

// randomToken is 16 random bytes in hex.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
