package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/fhir/api"
	"github.com/referralgw/gateway/fhir/push"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
	"github.com/referralgw/gateway/fhir/subscription"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/buildinfo"
	"github.com/referralgw/gateway/gateway/httpedge"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/internal/peer"
)

// node is one gateway instance with all its edges: the core (store and
// service), the HTTP face (FHIR API, SMART token endpoint and discovery,
// fax callback), the FHIR push channel with its follow jobs, and, when
// configured, the Direct channel with its SMTP listener and inbound
// processor and the fax channel.
type node struct {
	app     *app
	edges   edgeConfig
	baseURL string
	log     *slog.Logger

	push    *push.Channel
	fhirKey *ecdsa.PrivateKey // signs our SMART assertions to receivers
	clients *smartstore.Store
	tokens  *smart.TokenServer

	direct *directEdge // nil: Direct not configured
	smtpLn net.Listener

	fax *faxEdge // nil: fax not configured

	tlsCert *httpedge.Certificate // nil: the HTTP face speaks plain HTTP

	subs *subscription.Notifier // posts FHIR rest-hook notifications

	wg      sync.WaitGroup
	drained chan struct{} // closed once the SMTP listener has shut down; nil until drain
}

// nodeListeners are listeners a caller opened before the node exists (the
// demo needs every address before it builds the first node). SMTP may be
// nil: the node then listens on edgeConfig.SMTPAddr when Direct is on.
type nodeListeners struct {
	HTTP net.Listener
	SMTP net.Listener
}

// nodeOptions are the hooks the demo and the benchmark use; the zero
// value is what `serve` runs with.
type nodeOptions struct {
	// Queue tunes the delivery workers (production tuning when zero).
	Queue sqlstore.QueueConfig
	// WrapStore, WrapChannel and WrapTransport wrap the core's store, each
	// channel and the Direct SMTP sender (the benchmark times them).
	WrapStore     func(gateway.Store) gateway.Store
	WrapChannel   func(gateway.Channel) gateway.Channel
	WrapTransport func(channel.Transport) channel.Transport
	// HTTPClient sends FHIR pushes and fax API requests.
	HTTPClient *http.Client
}

// openNode wires a node from the configuration. Nothing runs until start.
func openNode(ctx context.Context, cfg Config, opts nodeOptions, ls nodeListeners, stdout, stderr io.Writer) (_ *node, err error) {
	ec := cfg.Edges
	if opts.Queue == (sqlstore.QueueConfig{}) {
		opts.Queue = sqlstore.DefaultQueueConfig()
	}
	n := &node{edges: ec, smtpLn: ls.SMTP,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if (ec.TLSCert == "") != (ec.TLSKey == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	if ec.TLSCert != "" {
		if n.tlsCert, err = httpedge.LoadCertificate(ec.TLSCert, ec.TLSKey, n.log); err != nil {
			return nil, err
		}
	}
	n.baseURL = strings.TrimSuffix(ec.PublicURL, "/")
	if n.baseURL == "" {
		scheme := "http://"
		if n.tlsCert != nil {
			scheme = "https://"
		}
		n.baseURL = scheme + ls.HTTP.Addr().String()
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	keyDir := filepath.Join(cfg.DataDir, "keys")
	if n.fhirKey, err = loadOrCreateECKey(filepath.Join(keyDir, "fhir-client.pem"), elliptic.P384()); err != nil {
		return nil, err
	}
	tokenKey, err := loadOrCreateECKey(filepath.Join(keyDir, "token.pem"), elliptic.P256())
	if err != nil {
		return nil, err
	}
	n.push = push.New(push.Config{Key: n.fhirKey, KeyID: keyID(&n.fhirKey.PublicKey), AllowHTTP: ec.FHIRAllowHTTP,
		AllowPrivateNetworks: ec.privateNetworksOK(), HTTPClient: opts.HTTPClient})
	channels := []gateway.Channel{n.push}
	if ec.DirectDomain != "" && ec.DirectCerts != "" {
		if n.direct, err = newDirectEdge(ec, cfg.DataDir, opts.WrapTransport, n.log, time.Now()); err != nil {
			return nil, err
		}
		channels = append(channels, n.direct.ch)
	}
	if n.fax, err = newFaxEdge(ec, n.baseURL, opts.HTTPClient, n.log); err != nil {
		return nil, err
	}
	if n.fax != nil {
		channels = append(channels, n.fax.ch)
		if cfg.FaxVendorID == "" {
			n.log.Warn("fax is configured without --fax-vendor: the fax vendor's BAA is not gated")
		}
	}
	if opts.WrapChannel != nil {
		for i, c := range channels {
			channels[i] = opts.WrapChannel(c)
		}
	}
	if n.app, err = openAppWith(ctx, cfg, opts.Queue, opts.WrapStore, true, stdout, stderr, channels...); err != nil {
		return nil, err
	}
	svc := n.app.svc
	// Periodic work runs on the queue (its leader queues each round), so
	// several nodes on one database do it once, not once per node.
	if ec.FollowEvery <= 0 {
		ec.FollowEvery = defaultEdgeConfig().FollowEvery
	}
	if ec.VerifyEvery <= 0 {
		ec.VerifyEvery = defaultEdgeConfig().VerifyEvery
	}
	if err := svc.Every(gateway.JobSweepExpired, sweepEvery); err != nil {
		return nil, err
	}
	if !ec.noRounds {
		if err := n.push.Follow(svc, ec.FollowEvery, n.log); err != nil {
			return nil, fmt.Errorf("fhir follow: %w", err)
		}
		if err := svc.Every(gateway.JobVerifyDirectory, ec.VerifyEvery); err != nil {
			return nil, fmt.Errorf("directory re-verification: %w", err)
		}
	}
	n.clients = smartstore.New(svc)
	n.tokens, err = smart.NewTokenServer(smart.TokenServerConfig{IssuerBase: n.baseURL, Clients: n.clients, Replay: n.clients,
		Key: tokenKey, KeyID: keyID(&tokenKey.PublicKey), ClockSkew: 30 * time.Second,
		OnDecision: api.TokenAudit(svc, gateway.SystemTenant, n.log),
		// The throttle counts clients as the other edges do: IPv6 by /64.
		Peer: func(r *http.Request) string { return peer.Key(r.RemoteAddr) }})
	if err != nil {
		return nil, fmt.Errorf("smart token server: %w", err)
	}
	subsCfg := subscription.Config{AllowHTTP: ec.FHIRAllowHTTP, AllowPrivateNetworks: ec.privateNetworksOK()}
	n.subs = subscription.NewNotifier(svc, subsCfg, n.log)
	n.subs.Register() // notifications are jobs on the core's queue
	if moved, err := svc.AdoptSubscriptionDocuments(ctx); err != nil {
		return nil, err
	} else if moved > 0 {
		n.log.Info("moved FHIR subscriptions from documents into their table", "subscriptions", moved)
	}
	fhirAPI := api.New(svc, n.tokens.Verifier(), api.Config{BaseURL: n.baseURL + "/fhir", TokenURL: n.tokens.TokenURL(),
		Subscriptions: subscription.NewRegistry(svc, subsCfg)}, n.log)
	inner := http.NewServeMux()
	api.Routes(inner, fhirAPI, n.tokens, n.baseURL)
	jwks, err := smart.PublicJWKS(smart.PublicKeyWithKID{KID: keyID(&n.fhirKey.PublicKey), Key: &n.fhirKey.PublicKey})
	if err != nil {
		return nil, fmt.Errorf("fhir client jwks: %w", err)
	}
	console := admin.New(svc, admin.Config{Secure: strings.HasPrefix(n.baseURL, "https://"), Logger: n.log,
		Clients: newAdminClients(n.clients), Build: buildinfo.Read().String(),
		SessionIdle: ec.AdminSessionIdle, SessionMax: ec.AdminSessionMax})
	n.app.protocols = map[string]http.Handler{
		"/fhir": inner, "/fhir/": inner, smart.TokenPath: inner, "GET " + smart.ConfigurationPath: inner,
		// The admin API (/admin/v1) and web console.
		"/admin/":  console,
		"GET /{$}": http.RedirectHandler("/admin/", http.StatusFound),
		// The public keys our FHIR push channel signs assertions with, for
		// receivers to register us as their backend client.
		"GET /.well-known/jwks.json": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwks)
		}),
	}
	if n.fax != nil {
		n.app.protocols["POST "+faxCallbackPath] = n.fax.callback(svc)
	}
	if n.direct != nil {
		if err := n.direct.attach(svc, n.log); err != nil {
			return nil, err
		}
		if n.smtpLn == nil {
			if n.smtpLn, err = net.Listen("tcp", ec.SMTPAddr); err != nil {
				return nil, fmt.Errorf("listen smtp %s: %w", ec.SMTPAddr, err)
			}
		}
	}
	return n, nil
}

// sweepEvery is how often expired edge records (used assertion ids, idle
// sessions, callback replay records) are deleted.
const sweepEvery = 10 * time.Minute

// start runs the node's listener and cache refreshers (SMTP, the trust
// bundle) until ctx ends; stop waits for them. The node's durable work
// (sends, inbound processing, following pushed Tasks, sweeps) runs on the
// store's queue, started by the caller.
func (n *node) start(ctx context.Context) {
	if n.direct != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.direct.smtp.Serve(n.smtpLn); err != nil && ctx.Err() == nil {
				n.log.Error("direct smtp listener stopped", "err", err)
			}
		}()
		if b := n.direct.bundle; b != nil {
			every := n.edges.TrustBundleEvery
			if every <= 0 {
				every = 24 * time.Hour
			}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				b.Run(ctx, every)
			}()
		}
	}
}

// drain begins the SMTP listener's shutdown: it stops accepting, tells
// idle sessions 421 and lets messages being received finish within ctx.
// serve calls it as shutdown begins, beside the HTTP server's, so inbound
// mail has the whole grace period rather than what HTTP and the workers
// leave of it; stop waits for it.
func (n *node) drain(ctx context.Context) {
	if n.drained != nil {
		return
	}
	n.drained = make(chan struct{})
	if n.direct == nil {
		close(n.drained)
		return
	}
	go func() {
		defer close(n.drained)
		if err := n.direct.smtp.Shutdown(ctx); err != nil {
			_ = n.direct.smtp.Close()
		}
	}()
}

// stop closes our pooled outbound SMTP connections, shuts the SMTP
// listener (letting sessions finish within ctx; see drain) and waits for
// the loops, which end with the context start was given. serve calls it
// after the delivery workers stopped, so no send is cut off by it.
func (n *node) stop(ctx context.Context) {
	n.drain(ctx)
	<-n.drained
	if n.direct != nil {
		_ = n.direct.sender.Close()
	}
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.log.Warn("node loops did not stop within the grace period")
	}
}

// describe prints where each edge listens and what is not configured.
func (n *node) describe(w io.Writer) {
	fmt.Fprintf(w, "  FHIR API        %s/fhir (SMART token %s)\n", n.baseURL, n.tokens.TokenURL())
	fmt.Fprintf(w, "  Admin console   %s/admin/ (create an account with `gateway admin create`)\n", n.baseURL)
	if n.direct != nil {
		fmt.Fprintf(w, "  Direct          %s, SMTP on %s (identities: %s)\n", n.edges.DirectDomain, n.smtpLn.Addr(), strings.Join(n.direct.names, ", "))
	} else {
		fmt.Fprintln(w, "  Direct          not configured (--direct-domain and --direct-certs)")
	}
	if n.fax != nil {
		fmt.Fprintf(w, "  Fax             %s, callback %s%s\n", n.edges.FaxAPI, n.baseURL, faxCallbackPath)
	} else {
		fmt.Fprintln(w, "  Fax             not configured")
	}
}

// Close releases what openNode acquired.
func (n *node) Close() {
	if n.direct != nil {
		if n.direct.smtp != nil {
			_ = n.direct.smtp.Close()
		}
		_ = n.direct.sender.Close()
	}
	if n.smtpLn != nil {
		_ = n.smtpLn.Close()
	}
	if n.app != nil {
		n.app.Close()
	}
}
