package main

import (
	"flag"
	"os"
	"strings"
	"time"
)

// Config is every setting of the gateway. The defaults work on a new
// machine; environment variables override the defaults and flags override
// both.
type Config struct {
	// DB is a PostgreSQL URL; empty means the embedded SQLite store under DataDir.
	DB string
	// DataDir holds the embedded database, keys, spools and the inbox.
	DataDir string
	// HTTPAddr is where `serve` listens (FHIR API, console, health, metrics).
	HTTPAddr string
	// BAAWarningWindow is how long before its end an active BAA is expiring.
	BAAWarningWindow time.Duration
	// FaxVendorID and HISPID name the vendor directory entries whose BAAs gate those channels.
	FaxVendorID string
	HISPID      string
	// Edges are the FHIR, Direct and fax settings of `serve`'s edges
	// (node_config.go); one-shot commands read them too, to route.
	Edges edgeConfig
	// AuditWitnesses keep the audit log's checkpoints outside the database:
	// directories or tlog-witness URLs (--audit-witness, repeatable; env
	// GATEWAY_AUDIT_WITNESS, comma-separated); none means <data>/audit-witness.
	AuditWitnesses witnessList
	// AuditPublishEvery is how often the audit sequencer runs and publishes
	// checkpoints while there are new entries.
	AuditPublishEvery time.Duration
	// ReceiptPollEvery is how often a sent delivery on a channel that can
	// be asked (fax) polls the vendor while no receipt came; 0: the core's
	// default (2 minutes).
	ReceiptPollEvery time.Duration

	// TracingEndpoint is the OTLP/HTTP endpoint traces are exported to;
	// empty leaves tracing off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
	TracingEndpoint string

	// sources and loadErr say where the settings came from and what was
	// wrong with the configuration file, for `config check`.
	sources configSources
	loadErr error
}

// defaultConfig reads the environment over the built-in defaults.
func defaultConfig() Config {
	c := Config{DataDir: "gateway-data", HTTPAddr: "127.0.0.1:8080", BAAWarningWindow: 60 * 24 * time.Hour, AuditPublishEvery: time.Second,
		Edges: defaultEdgeConfig()}
	if v := os.Getenv("GATEWAY_DB"); v != "" {
		c.DB = v
	}
	if v := os.Getenv("GATEWAY_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := os.Getenv("GATEWAY_AUDIT_WITNESS"); v != "" {
		c.AuditWitnesses = strings.Split(v, ",")
	}
	if v := os.Getenv("GATEWAY_HTTP_ADDR"); v != "" {
		c.HTTPAddr = v
	}
	if v := os.Getenv("GATEWAY_FAX_VENDOR"); v != "" {
		c.FaxVendorID = v
	}
	if v := os.Getenv("GATEWAY_OTLP_ENDPOINT"); v != "" {
		c.TracingEndpoint = v
	}
	if v := os.Getenv("GATEWAY_HISP"); v != "" {
		c.HISPID = v
	}
	return c
}

// flagGroup is one concern's configuration flags. Each command registers
// the groups that apply to it, so its -h lists only flags it reads.
type flagGroup int

const (
	// storeFlags are --db and --data: where the store and keys live.
	storeFlags flagGroup = iota
	// dbFlag is --db alone, for commands that make their own data directory.
	dbFlag
	// dataFlag is --data alone, for commands that touch no database.
	dataFlag
	// baaFlags is --baa-warning, for commands that judge BAA terms.
	baaFlags
	// vendorFlags are --fax-vendor and --hisp, for commands that route.
	vendorFlags
	// routeFlags are the edge settings a one-shot command needs to route
	// (Direct domain and certificates, fax API); `serve` registers all edge
	// settings instead.
	routeFlags
	// noFlags registers nothing, for commands without configuration.
	noFlags
)

// register adds the flags of group g to fs.
func (c *Config) register(fs *flag.FlagSet, g flagGroup) {
	switch g {
	case storeFlags:
		c.register(fs, dbFlag)
		c.register(fs, dataFlag)
		fs.Var(&c.AuditWitnesses, "audit-witness", "audit checkpoint witness: a `directory` (append-only, on another disk or host) or a tlog-witness URL; repeatable (env GATEWAY_AUDIT_WITNESS); default <data>/audit-witness")
	case dbFlag:
		fs.StringVar(&c.DB, "db", c.DB, "PostgreSQL `URL` (postgres://...); empty: embedded SQLite under --data (env GATEWAY_DB)")
	case dataFlag:
		fs.StringVar(&c.DataDir, "data", c.DataDir, "data `directory` for the embedded store, keys and spools (env GATEWAY_DATA_DIR)")
	case baaFlags:
		fs.DurationVar(&c.BAAWarningWindow, "baa-warning", c.BAAWarningWindow, "an active BAA ending within this window is reported as expiring")
	case vendorFlags:
		fs.StringVar(&c.FaxVendorID, "fax-vendor", c.FaxVendorID, "directory `id` of the fax vendor whose BAA gates fax (env GATEWAY_FAX_VENDOR)")
		fs.StringVar(&c.HISPID, "hisp", c.HISPID, "directory `id` of the HISP whose BAA gates Direct, if one is used (env GATEWAY_HISP)")
	case routeFlags:
		c.Edges.registerRoute(fs)
	}
}
