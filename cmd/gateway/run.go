package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand.
type command struct {
	name, args, help string
	run              func(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "", "run the gateway: HTTP API, health and metrics, delivery workers", cmdServe},
		{"migrate", "", "apply the embedded database migrations and exit", cmdMigrate},
		{"directory", "add|list|show|set-baa|verify|import ...", "edit the recipient channel directory", cmdDirectory},
		{"consent", "add ...", "put an authorization or Part 2 consent on file", cmdConsent},
		{"referral", "create|submit|show|list|transition|answer|override|replace ...", "create and follow referrals", cmdReferral},
		{"audit", "verify|export|checkpoint", "verify the hash-chained trail, export it as FHIR AuditEvents", cmdAudit},
		{"admin", "create --name N [--role R]", "create a console account (password on stdin; prints the TOTP enrolment URI)", cmdAdmin},
		{"certs", "dev --domain D [--address A ...] [--out DIR]", "write a DEVELOPMENT CA and Direct certificates", cmdCerts},
		{"client", "add --org ID --jwks FILE --scope S [--id ID]", "register an EHR's SMART backend client", cmdClient},
		{"demo", "[--keep-dir DIR] [--db URL]", "run a whole referral network on loopback and show it working", cmdDemo},
		{"bench", "--channel fhir|direct|fax|all --referrals N ...", "drive referrals through the loopback network and measure", cmdBench},
	}
}

// run is the whole program: it parses args and runs one subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, defaultConfig(), args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return usagef("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gateway <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %-45s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "\nRun `gateway <command> -h` for a command's flags. With no --db everything lives in ./gateway-data/.")
}

// newFlags makes a flag set for a subcommand that reports errors instead
// of exiting, with the shared configuration flags registered.
func newFlags(name string, cfg *Config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.register(fs)
	return fs
}

// parse parses flags that may stand before or after the positional
// arguments ("directory verify ID --method ..."), turning flag errors into
// usage errors. The positional arguments are left in fs.Args().
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return errHelp
			}
			return usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// errHelp ends a command after -h printed its flags.
var errHelp = &usageError{"help requested"}

// sub splits "directory add ..." into the verb and its args.
func sub(args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usagef("missing subcommand: one of %s", strings.Join(verbs, ", "))
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, usagef("unknown subcommand %q: one of %s", args[0], strings.Join(verbs, ", "))
}

// readInput reads a file argument, "-" meaning standard input.
func readInput(path string) ([]byte, error) {
	if path == "" {
		return nil, usagef("--file is required")
	}
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
