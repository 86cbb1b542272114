package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// app is the wired gateway: configuration, store, core service and channels.
type app struct {
	cfg     Config
	store   *sqlstore.Store
	svc     *gateway.Service
	log     *slog.Logger
	metrics *promMetrics // the Prometheus face of the core's Metrics
	// auditKey verifies the audit log's checkpoints (the signing half
	// stays in the key file or environment, never in the database).
	auditKey note.Verifier
	auditPub string // auditKey's text form, for `audit key` and the console
	// stopSequencer ends the background audit sequencer and waits for it;
	// nil in a one-shot command, which runs none.
	stopSequencer func()
	sealer        *gateway.Sealer // the keys PHI is sealed with
	stdout        io.Writer
	// protocols are the edge handlers a node mounts (FHIR, SMART, fax
	// callback), keyed by mux pattern; empty for one-shot commands.
	protocols map[string]http.Handler
}

// openApp opens the configured store (migrating it) and wires the core
// for a one-shot command: it appends to the audit trail but runs no
// sequencer (it takes no sequencer lock and publishes no checkpoint, at
// exit either); the running serve, or the next one, sequences what it
// appended. The audit commands that sign or prove ask for it explicitly.
func openApp(ctx context.Context, cfg Config, stdout, stderr io.Writer, channels ...gateway.Channel) (*app, error) {
	return openAppWith(ctx, cfg, sqlstore.DefaultQueueConfig(), nil, false, stdout, stderr, channels...)
}

// openAppWith is openApp with the delivery queue tuned by q (the demo and
// the benchmark poll faster than production), when wrap is set the core
// writing through wrap(store) (the benchmark times the store), and, when
// sequencer is set, the audit sequencer running in the background (a
// serving node).
func openAppWith(ctx context.Context, cfg Config, q sqlstore.QueueConfig, wrap func(gateway.Store) gateway.Store, sequencer bool,
	stdout, stderr io.Writer, channels ...gateway.Channel) (*app, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if q.Logger == nil {
		q.Logger = log.With("component", "queue")
	}
	store, err := openStore(ctx, cfg, q)
	if err != nil {
		return nil, err
	}
	signer, auditKey, auditPub, err := auditSigningKey(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	witnesses, err := auditWitnesses(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	store.ConfigureAudit(sqlstore.AuditConfig{Signer: signer, Witnesses: witnesses, Logger: log.With("component", "audit"),
		Follower: !sequencer})
	sealer, err := cfg.sealer()
	if err != nil {
		store.Close()
		return nil, err
	}
	store.UseSealer(sealer)
	gcfg := gateway.DefaultConfig()
	gcfg.BAAWarningWindow = cfg.BAAWarningWindow
	if cfg.ReceiptPollEvery > 0 {
		gcfg.ReceiptPollEvery = cfg.ReceiptPollEvery
	}
	gcfg.Vendors = map[gateway.ChannelKind]string{}
	if cfg.FaxVendorID != "" {
		gcfg.Vendors[gateway.ChannelFax] = cfg.FaxVendorID
	}
	if cfg.HISPID != "" {
		gcfg.Vendors[gateway.ChannelDirect] = cfg.HISPID
	}
	m := newMetrics()
	gcfg.Metrics = m
	var core gateway.Store = store
	if wrap != nil {
		core = wrap(store)
	}
	svc := gateway.NewService(core, sealer, gateway.SystemClock{}, gcfg, log, channels...)
	svc.SetAuditVerifier(gateway.AuditVerifier{Key: auditKey, KeyText: auditPub, Witnesses: witnesses})
	a := &app{cfg: cfg, store: store, svc: svc, log: log, metrics: m, auditKey: auditKey, auditPub: auditPub, sealer: sealer, stdout: stdout}
	if sequencer {
		// The sequencer gives committed audit events their places and
		// publishes checkpoints every AuditPublishEvery, in every serving
		// process that becomes the database's sequencer; its last round is
		// the store's Close.
		seqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			store.RunSequencer(seqCtx, cfg.AuditPublishEvery)
		}()
		a.stopSequencer = func() { cancel(); <-done }
	}
	return a, nil
}

// openStore opens PostgreSQL when a URL is configured, else the embedded store.
func openStore(ctx context.Context, cfg Config, q sqlstore.QueueConfig) (*sqlstore.Store, error) {
	if cfg.DB != "" {
		token, err := cfg.callerToken()
		if err != nil {
			return nil, err
		}
		s, err := pgstore.Open(ctx, cfg.DB, q, pgstore.WithCaller(token))
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return s, nil
	}
	s, err := litestore.Open(ctx, filepath.Join(cfg.DataDir, "gateway.db"), q)
	if err != nil {
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	return s, nil
}

// Close stops the audit sequencer and closes the store, which (in a
// serving process) sequences and publishes what is left, once, when this
// process is the sequencer.
func (a *app) Close() {
	if a.stopSequencer != nil {
		a.stopSequencer()
	}
	a.store.Close()
}

// admin is the actor for CLI changes: the operating-system user at the console.
func cliActor(name string) gateway.Actor {
	if name == "" {
		name = "cli"
	}
	return gateway.Actor{ID: "user:" + name}
}
