package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// defaultConfigFile is read when it exists in the working directory and
// neither --config nor GATEWAY_CONFIG names another file.
const defaultConfigFile = "gateway.toml"

// setting is one key of the configuration file: where it lives in Config,
// the environment variable that overrides it, and whether it is a secret
// (masked by `config check`).
type setting struct {
	key    string // "direct.domain"
	env    string // "GATEWAY_DIRECT_DOMAIN"; "" when none
	secret bool
	help   string
	get    func(c *Config) string
	set    func(c *Config, v string) error
}

func str(p func(c *Config) *string) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return *p(c) }, func(c *Config, v string) error { *p(c) = v; return nil }
}

func boolean(p func(c *Config) *bool) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return strconv.FormatBool(*p(c)) },
		func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			*p(c) = b
			return nil
		}
}

func duration(p func(c *Config) *time.Duration) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return p(c).String() },
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New(`want a duration such as "30s", "10m" or "1440h"`)
			}
			*p(c) = d
			return nil
		}
}

func mk(key, env string, secret bool, help string, gs func() (func(*Config) string, func(*Config, string) error)) setting {
	g, s := gs()
	return setting{key: key, env: env, secret: secret, help: help, get: g, set: s}
}

// settings are the keys of gateway.toml, in the order `config check` prints them.
func settings() []setting {
	return []setting{
		mk("db", "GATEWAY_DB", true, "PostgreSQL URL; empty: the embedded store under data",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.DB })
			}),
		mk("data", "GATEWAY_DATA_DIR", false, "data directory: embedded store, keys, spools",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.DataDir })
			}),
		mk("http", "GATEWAY_HTTP_ADDR", false, "HTTP listen address of serve",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.HTTPAddr })
			}),
		mk("public_url", "GATEWAY_PUBLIC_URL", false, "base URL others reach this gateway at",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.PublicURL })
			}),
		mk("baa_warning", "", false, "an active BAA ending within this window is expiring",
			func() (func(*Config) string, func(*Config, string) error) {
				return duration(func(c *Config) *time.Duration { return &c.BAAWarningWindow })
			}),
		mk("fhir.allow_http", "GATEWAY_FHIR_ALLOW_HTTP", false, "DEVELOPMENT ONLY: plain-http FHIR endpoints",
			func() (func(*Config) string, func(*Config, string) error) {
				return boolean(func(c *Config) *bool { return &c.Edges.FHIRAllowHTTP })
			}),
		mk("fhir.follow", "", false, "how often pushed referrals are read back",
			func() (func(*Config) string, func(*Config, string) error) {
				return duration(func(c *Config) *time.Duration { return &c.Edges.FollowEvery })
			}),
		mk("directory.verify", "", false, "how often directory entries' channels are checked again",
			func() (func(*Config) string, func(*Config, string) error) {
				return duration(func(c *Config) *time.Duration { return &c.Edges.VerifyEvery })
			}),
		mk("direct.domain", "GATEWAY_DIRECT_DOMAIN", false, "our Direct domain; Direct is off without it",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.DirectDomain })
			}),
		mk("direct.certs", "GATEWAY_DIRECT_CERTS", false, "directory of Direct certificates (gateway certs dev)",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.DirectCerts })
			}),
		mk("direct.hisp", "GATEWAY_HISP", false, "directory id of the HISP whose BAA gates Direct",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.HISPID })
			}),
		mk("direct.smtp", "GATEWAY_SMTP_ADDR", false, "inbound SMTP listen address",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.SMTPAddr })
			}),
		mk("direct.smarthost", "GATEWAY_SMARTHOST", false, "host:port for all outbound Direct mail; empty: MX lookup",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.Smarthost })
			}),
		mk("direct.smtp_tls_cert", "GATEWAY_SMTP_TLS_CERT", false, "STARTTLS certificate (PEM) of the SMTP listener",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.SMTPTLSCert })
			}),
		mk("direct.smtp_tls_key", "GATEWAY_SMTP_TLS_KEY", false, "its private key (PEM file)",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.SMTPTLSKey })
			}),
		mk("direct.smtp_tls_roots", "GATEWAY_SMTP_TLS_ROOTS", false, "extra PEM roots for outbound STARTTLS",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.SMTPTLSRoots })
			}),
		mk("direct.smtp_tls_insecure", "GATEWAY_SMTP_TLS_INSECURE", false, "DEVELOPMENT ONLY: do not verify remote STARTTLS",
			func() (func(*Config) string, func(*Config, string) error) {
				return boolean(func(c *Config) *bool { return &c.Edges.SMTPTLSInsecure })
			}),
		mk("direct.dns", "GATEWAY_DNS", false, "DNS server for certificate discovery; empty: off",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.DNSServer })
			}),
		mk("fax.api", "GATEWAY_FAX_API", false, "fax vendor API base URL; fax is off without it",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.FaxAPI })
			}),
		mk("fax.vendor", "GATEWAY_FAX_VENDOR", false, "directory id of the fax vendor whose BAA gates fax",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.FaxVendorID })
			}),
		mk("fax.key", "GATEWAY_FAX_KEY", true, "fax vendor API key",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.FaxKey })
			}),
		mk("fax.secret", "GATEWAY_FAX_SECRET", true, "fax vendor API secret",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.FaxSecret })
			}),
		mk("fax.callback_token", "GATEWAY_FAX_CALLBACK_TOKEN", true, "fax callback signing token",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.Edges.FaxCallbackToken })
			}),
		mk("tracing.otlp_endpoint", "GATEWAY_OTLP_ENDPOINT", false, "OTLP/HTTP traces endpoint; empty: tracing off (or OTEL_EXPORTER_OTLP_ENDPOINT)",
			func() (func(*Config) string, func(*Config, string) error) {
				return str(func(c *Config) *string { return &c.TracingEndpoint })
			}),
	}
}

// configSources remembers where each setting came from, for `config check`.
type configSources struct {
	file   string            // the file read, "" when none
	source map[string]string // key → "file", "env NAME"
}

// loadConfig builds the configuration: built-in defaults, then the file
// (path, else GATEWAY_CONFIG, else ./gateway.toml when present), then the
// environment. Flags, parsed by each command, override all three.
func loadConfig(path string) (Config, configSources, error) {
	c := defaultConfig() // defaults with the environment over them
	src := configSources{source: map[string]string{}}
	if path == "" {
		path = os.Getenv("GATEWAY_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	all := settings()
	for _, s := range all {
		if s.env != "" && os.Getenv(s.env) != "" {
			src.source[s.key] = "env " + s.env
		}
	}
	if path == "" {
		return c, src, nil
	}
	values, err := readConfigFile(path)
	if err != nil {
		return c, src, err
	}
	src.file = path
	known := map[string]setting{}
	for _, s := range all {
		known[s.key] = s
	}
	var problems []string
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := known[k]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: unknown setting", k))
			continue
		}
		if src.source[k] != "" {
			continue // the environment wins over the file
		}
		if err := s.set(&c, values[k]); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
			continue
		}
		src.source[k] = "file"
	}
	if len(problems) > 0 {
		return c, src, fmt.Errorf("config %s: %s", path, strings.Join(problems, "; "))
	}
	return c, src, nil
}

// readConfigFile decodes a TOML file into dotted keys and their values as
// text ("direct.domain" → "direct.clinic-a.example").
func readConfigFile(path string) (map[string]string, error) {
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	out := map[string]string{}
	var walk func(prefix string, m map[string]any) error
	walk = func(prefix string, m map[string]any) error {
		for k, v := range m {
			key := prefix + k
			switch v := v.(type) {
			case map[string]any:
				if err := walk(key+".", v); err != nil {
					return err
				}
			case string:
				out[key] = v
			case bool:
				out[key] = strconv.FormatBool(v)
			default:
				return fmt.Errorf("config %s: %s: want a string or true/false, not %T", path, key, v)
			}
		}
		return nil
	}
	return out, walk("", raw)
}

// validate checks the values that can be checked without the network.
func (c *Config) validate() []string {
	var problems []string
	addr := func(key, v string) {
		if v == "" {
			return
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %q is not host:port", key, v))
		}
	}
	absURL := func(key, v string, schemes ...string) {
		if v == "" {
			return
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || !slices.Contains(schemes, u.Scheme) {
			problems = append(problems, fmt.Sprintf("%s: want an absolute %s URL", key, strings.Join(schemes, " or ")))
		}
	}
	absURL("db", c.DB, "postgres", "postgresql")
	absURL("public_url", c.Edges.PublicURL, "https", "http")
	absURL("fax.api", c.Edges.FaxAPI, "https", "http")
	addr("http", c.HTTPAddr)
	addr("direct.smtp", c.Edges.SMTPAddr)
	addr("direct.smarthost", c.Edges.Smarthost)
	addr("direct.dns", c.Edges.DNSServer)
	if c.DataDir == "" {
		problems = append(problems, "data: must not be empty")
	}
	if (c.Edges.DirectDomain == "") != (c.Edges.DirectCerts == "") {
		problems = append(problems, "direct.domain and direct.certs go together: Direct needs both")
	}
	if c.Edges.DirectCerts != "" {
		if fi, err := os.Stat(c.Edges.DirectCerts); err != nil || !fi.IsDir() {
			problems = append(problems, fmt.Sprintf("direct.certs: %s is not a directory", c.Edges.DirectCerts))
		}
	}
	if c.Edges.FaxAPI != "" && (c.Edges.FaxKey == "" || c.Edges.FaxSecret == "" || c.Edges.FaxCallbackToken == "" || c.FaxVendorID == "") {
		problems = append(problems, "fax.api needs fax.key, fax.secret, fax.callback_token and fax.vendor")
	}
	if (c.Edges.SMTPTLSCert == "") != (c.Edges.SMTPTLSKey == "") {
		problems = append(problems, "direct.smtp_tls_cert and direct.smtp_tls_key go together")
	}
	return problems
}

// mask hides a secret: a URL keeps all but its password, anything else
// shows only whether it is set.
func mask(key, v string) string {
	if v == "" {
		return ""
	}
	if key == "db" {
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
			return strings.Replace(u.String(), "xxxxx", "****", 1)
		}
	}
	return "****"
}
