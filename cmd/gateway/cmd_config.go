package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cmdConfig validates the configuration and prints the effective settings
// as a configuration file would hold them, secrets masked, each with where
// it came from. It exits 1 naming every problem.
func cmdConfig(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if _, rest, err := sub(args, "check"); err != nil {
		return err
	} else {
		args = rest
	}
	fs := newFlags("config check", &cfg, stderr, storeFlags, baaFlags, vendorFlags)
	cfg.Edges.register(fs)
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP listen address (env GATEWAY_HTTP_ADDR)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("config check takes no arguments (name the file with --config FILE)")
	}
	var problems []string
	if cfg.loadErr != nil {
		problems = append(problems, cfg.loadErr.Error())
	}
	problems = append(problems, cfg.validate()...)
	flagged := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { flagged[f.Name] = true })

	if cfg.sources.file != "" {
		fmt.Fprintf(stdout, "# configuration file: %s\n", cfg.sources.file)
	} else {
		fmt.Fprintf(stdout, "# no configuration file (--config, GATEWAY_CONFIG or ./%s)\n", defaultConfigFile)
	}
	section := ""
	for _, s := range settings() {
		name := s.key
		if sec, key, ok := strings.Cut(s.key, "."); ok {
			if sec != section {
				fmt.Fprintf(stdout, "\n[%s]\n", sec)
				section = sec
			}
			name = key
		}
		v := s.get(&cfg)
		if s.secret {
			v = mask(s.key, v)
		}
		src := cfg.sources.source[s.key]
		if src == "" {
			src = "default"
		}
		if flagged[flagNameOf(s.key)] {
			src = "flag --" + flagNameOf(s.key)
		}
		val := strconv.Quote(v)
		if v == "true" || v == "false" {
			val = v
		}
		fmt.Fprintf(stdout, "%-18s = %-40s # %s\n", name, val, src)
	}
	fmt.Fprintln(stdout, "\n# keys (never shown): record and audit keys")
	for _, k := range []string{"record", "audit"} {
		env := "GATEWAY_" + strings.ToUpper(k) + "_KEY"
		where := "not yet created: generated on first use at " + filepath.Join(cfg.DataDir, "keys", k+".key")
		if os.Getenv(env) != "" {
			where = "from env " + env
		} else if _, err := os.Stat(filepath.Join(cfg.DataDir, "keys", k+".key")); err == nil {
			where = "file " + filepath.Join(cfg.DataDir, "keys", k+".key")
		}
		fmt.Fprintf(stdout, "# %s key: %s\n", k, where)
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, "configuration problems:")
		for _, p := range problems {
			fmt.Fprintln(stderr, "  "+p)
		}
		return errSilent
	}
	fmt.Fprintln(stdout, "\n# configuration OK")
	return nil
}

// flagNameOf is the command-line flag that overrides a file key.
func flagNameOf(key string) string {
	switch key {
	case "data":
		return "data"
	case "fax.vendor":
		return "fax-vendor"
	case "direct.hisp":
		return "hisp"
	case "fhir.allow_http":
		return "fhir-allow-http"
	case "fhir.follow":
		return "fhir-follow"
	case "directory.verify":
		return "directory-verify"
	case "fax.api":
		return "fax-api"
	}
	_, k, ok := strings.Cut(key, ".")
	if !ok {
		k = key
	}
	if strings.HasPrefix(key, "direct.") && (k == "domain" || k == "certs") {
		k = "direct-" + k
	}
	return strings.ReplaceAll(k, "_", "-")
}
