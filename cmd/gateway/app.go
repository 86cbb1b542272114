package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// app is the wired gateway: configuration, store, core service and channels.
type app struct {
	cfg      Config
	store    *sqlstore.Store
	svc      *gateway.Service
	log      *slog.Logger
	metrics  *promMetrics // the Prometheus face of the core's Metrics
	auditKey []byte
	sealer   *gateway.Sealer // the keys PHI is sealed with
	stdout   io.Writer
	// protocols are the edge handlers a node mounts (FHIR, SMART, fax
	// callback), keyed by mux pattern; empty for one-shot commands.
	protocols map[string]http.Handler
}

// openApp opens the configured store (migrating it) and wires the core.
func openApp(ctx context.Context, cfg Config, stdout, stderr io.Writer, channels ...gateway.Channel) (*app, error) {
	return openAppWith(ctx, cfg, sqlstore.DefaultQueueConfig(), nil, stdout, stderr, channels...)
}

// openAppWith is openApp with the delivery queue tuned by q (the demo and
// the benchmark poll faster than production) and, when wrap is set, the
// core writing through wrap(store) (the benchmark times the store).
func openAppWith(ctx context.Context, cfg Config, q sqlstore.QueueConfig, wrap func(gateway.Store) gateway.Store, stdout, stderr io.Writer, channels ...gateway.Channel) (*app, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if q.Logger == nil {
		q.Logger = log.With("component", "queue")
	}
	store, err := openStore(ctx, cfg, q)
	if err != nil {
		return nil, err
	}
	auditKey, err := cfg.key("audit")
	if err != nil {
		store.Close()
		return nil, err
	}
	sealer, err := cfg.sealer()
	if err != nil {
		store.Close()
		return nil, err
	}
	store.UseSealer(sealer)
	gcfg := gateway.DefaultConfig()
	gcfg.BAAWarningWindow = cfg.BAAWarningWindow
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
	return &app{cfg: cfg, store: store, svc: svc, log: log, metrics: m, auditKey: auditKey, sealer: sealer, stdout: stdout}, nil
}

// openStore opens PostgreSQL when a URL is configured, else the embedded store.
func openStore(ctx context.Context, cfg Config, q sqlstore.QueueConfig) (*sqlstore.Store, error) {
	if cfg.DB != "" {
		s, err := pgstore.Open(ctx, cfg.DB, q)
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

func (a *app) Close() { a.store.Close() }

// admin is the actor for CLI changes: the operating-system user at the console.
func cliActor(name string) gateway.Actor {
	if name == "" {
		name = "cli"
	}
	return gateway.Actor{ID: "user:" + name}
}
